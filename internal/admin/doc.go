// Package admin is a replica's admin server: /metrics, /healthz and
// /readyz, the state document siblings poll (/_mitosis/state, guarded by
// the cluster token) and the page people read (/_mitosis/). It serves what
// it is given and must not compute load, decide anything or be reachable
// from the public port; the replica package builds the document.
package admin
