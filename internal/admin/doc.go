// Package admin is a replica's admin server: /metrics, /healthz and
// /readyz, the state document siblings poll (/_mitosis/state), the live
// page people read (/_mitosis/, served by the dashboard package), the
// replicas as Prometheus HTTP service discovery targets
// (/_mitosis/targets) and, when enabled, the Go profiler (/debug/pprof/).
// Everything but /metrics and the health checks is guarded by the cluster
// token. It serves what it is given and must not compute load, decide
// anything or be reachable from the public port; the replica package
// builds the document.
package admin
