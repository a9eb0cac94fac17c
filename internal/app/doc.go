// Package app is the app behind a replica when it is not an in-process
// handler: a child process started with PORT set (supervised, stopped
// after the drain, its exit status passed on) or an upstream URL, reached
// through a reverse proxy, with a readiness check on its address. It must
// not decide admission or routing: the balancer wraps what it returns.
package app
