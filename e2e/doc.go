// Package e2e runs mitosis on a real Docker Swarm: it builds the binary
// and examples/loadgen statically, wraps them in a FROM-scratch image,
// deploys the repository's stack.noipvs.yml (plus short
// scaling windows), drives load from a loadgen container on the stack's
// overlay network and checks, through `docker service ls` and the
// replicas' /_mitosis/state:
//
//   - replicas rise from the minimum to at least 3 under a load step and
//     fall back, with no failed request;
//   - `docker kill` of a task under load fails no GET, and Swarm's
//     replacement joins the pool;
//   - the docker driver leaves no clone behind its root container
//     (docker stop, docker kill, and a kill followed by a start, which
//     adopts the clones);
//   - a frozen daemon (SIGSTOP for 20 s; with Swarm, stopping dockerd
//     kills the containers) does not stop serving, and scaling works
//     again once it thaws;
//   - the web service holds no Docker socket and runs as non-root; it
//     scales through the guard; from inside a web task's network
//     namespace (e2e/guardprobe) every request beyond its own status and
//     in-bounds scale is refused and nothing changes or runs; `docker
//     kill` of the guard under load fails no request and scaling resumes
//     within two ticks of the new guard's first answer.
//
// Function containers, apart from that stack: TestFunctionContainers
// (about 15 s) serves function routes through the container runner on the
// daemon and checks the request as the function sees it, its sandbox
// from inside (e2e/fnprobe), the concurrency cap, the timeout and the
// sweep; TestVoting (about 2 minutes) deploys examples/voting and sends
// 300 votes from 150 voters while the tier scales, each recorded by a
// container of its own, and checks the exact tally and that no function
// container is left.
//
// TestMultiNode (multinode_test.go) starts Swarms of three nodes on this
// machine, each a dockerd in network and mount namespaces of its own
// (testdata/nodes.sh), loads the image into them from an archive it
// writes itself (no daemon of the machine is needed), deploys the stack
// with its replicas spread over the nodes, and checks with loadgen
// -by-addr (each failure counted under the replica its connection went
// to): scaling 1 → ≥4 → 1 on every node; a node lost under load (only
// requests whose connection ended on it may fail; the pool drops its
// replicas within the health rule; Swarm replaces them); the acting
// replica killed (another acts within two ticks, never two on one tick); a
// node drained under load; a manager lost in a three-manager Swarm (scaling
// goes on); and on one node, stack.noipvs.yml's entry on the node's port
// (load from this machine grows the tier to three replicas or more that
// answer it; a web task killed under that load fails no request).
// TestStackFilesAgree keeps stack.noipvs.yml's web service in step with
// stack.yml's. It runs with CI=true or E2E_MULTINODE=1 and skips with one
// line otherwise; it takes about five minutes.
//
// The suite only has tests. Without a reachable daemon (or a Swarm
// manager) it skips, unless CI=true, where it fails. The frozen-daemon
// scenario stops every container of the machine for 20 s: it runs only
// with CI=true or E2E_DESTRUCTIVE=true, and needs root (it signals
// dockerd). The suite takes about five minutes, logs each phase (go test
// -v shows them as they happen), and leaves no service, container,
// network, secret or image behind.
package e2e
