// Package integration holds the tests that run the mitosis binary on
// loopback: a replica as a black box, driven by signals, HTTP and its
// environment, with siblings, child apps and the process driver as real
// processes. It has no code of its own beyond those tests; tests that need
// a Docker daemon live in e2e/.
package integration
