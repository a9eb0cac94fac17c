#!/usr/bin/env bash
# nodes.sh: a Docker Swarm of several nodes on one Linux machine, for the
# multi-node e2e suite (e2e/multinode_test.go). Each node is a dockerd of
# its own in a network namespace and a mount namespace of its own (so each
# has its own /var/run/docker.sock to bind-mount into its tasks), attached
# by a veth pair to a bridge. Needs root, dockerd, iproute2, iptables,
# nsenter and unshare (util-linux).
#
#   nodes.sh up [-m K] N   start N nodes, the first K managers (default 1);
#                          node 1 inits the swarm; prints DOCKER_HOST per node
#   nodes.sh host I        the DOCKER_HOST of node I
#   nodes.sh addr I        node I's address on the bridge
#   nodes.sh load TAR      load an image archive (docker save) into every node
#   nodes.sh stop I        SIGKILL node I's dockerd, containerd and tasks: a lost node
#   nodes.sh start I       start node I's dockerd again (it rejoins the swarm)
#   nodes.sh down          remove every node, namespace, bridge and rule
#
# What works between nodes: overlay networks (VXLAN over the bridge),
# dnsrr, tasks.<service> DNS, host-mode published ports (reach node I's at
# its address). What does not: the routing mesh (it needs IPVS).
#
# The machine's own dockerd is never touched. Names: bridge $BR, network
# namespaces mitosis-nodeI, data under /var/lib/mitosis-nodeI, state under
# $STATE. MITOSIS_NODES_NET (default 10.98.0) is the bridge's /24.
set -euo pipefail
NET=${MITOSIS_NODES_NET:-10.98.0}
BR=mitosisn0
STATE=/run/mitosis-nodes
mkdir -p "$STATE"

ns() { echo "mitosis-node$1"; }
data() { echo "/var/lib/mitosis-node$1"; }
host() { echo "unix://$(data "$1")/docker.sock"; }
addr() { echo "$NET.$((10 + $1))"; }
dk() {
	local i=$1
	shift
	docker -H "$(host "$i")" "$@"
}
nodes() { ls "$STATE" 2>/dev/null | sed -n 's/^pid\([0-9]*\)$/\1/p' | sort -n; }

bridge_up() {
	ip link show "$BR" >/dev/null 2>&1 && return
	ip link add "$BR" type bridge
	ip addr add "$NET.1/24" dev "$BR"
	ip link set "$BR" up
	sysctl -qw net.ipv4.ip_forward=1
	# A dockerd on the machine sets the FORWARD policy to DROP.
	iptables -I FORWARD -i "$BR" -o "$BR" -j ACCEPT
}

daemon_up() {
	local i=$1 n
	n=$(ns "$i")
	mkdir -p "$(data "$i")"
	# nsenter keeps the machine's /sys/fs/cgroup (ip netns exec would
	# remount /sys and hide it); a private /run gives the node its own
	# /var/run/docker.sock and containerd. Images are loaded, never pulled:
	# DOCKER_SERVICE_PREFER_OFFLINE_IMAGE spares each new task a pull
	# attempt (about 20 s without a registry) before it starts.
	# The daemon keeps no descriptor of its caller beyond stdio (a lock a
	# caller holds, say, would be held as long as the node runs).
	nohup nsenter --net="/run/netns/$n" unshare --mount --uts --propagation private bash -c "
		for fd in \$(ls /proc/\$\$/fd); do [ \$fd -gt 2 ] && eval \"exec \$fd>&-\" 2>/dev/null; done
		hostname $n
		mkdir -p /tmp/$n-cgroup
		mount --rbind /sys/fs/cgroup /tmp/$n-cgroup
		mount -t sysfs sysfs /sys
		mount --rbind /tmp/$n-cgroup /sys/fs/cgroup
		mount -t tmpfs tmpfs /run
		exec env DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 dockerd --data-root $(data "$i") -H unix:///run/docker.sock -H $(host "$i")
	" >"$STATE/log$i" 2>&1 &
	echo $! >"$STATE/pid$i"
	for _ in $(seq 1 120); do
		dk "$i" info >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	tail -n 20 "$STATE/log$i" >&2
	echo "nodes.sh: node $i: dockerd did not start" >&2
	return 1
}

node_up() {
	local i=$1 n
	n=$(ns "$i")
	ip netns add "$n"
	ip link add "mnh$i" type veth peer name "mnv$i"
	ip link set "mnh$i" master "$BR" up
	ip link set "mnv$i" netns "$n"
	ip -n "$n" addr add "$(addr "$i")/24" dev "mnv$i"
	ip -n "$n" link set "mnv$i" up
	ip -n "$n" link set lo up
	ip -n "$n" route add default via "$NET.1"
	daemon_up "$i"
}

kill_node() {
	local i=$1 p
	[ -f "$STATE/pid$i" ] && kill -KILL "$(cat "$STATE/pid$i")" 2>/dev/null || true
	# containerd and the shims live in the node's network namespace; the
	# tasks go with their shims.
	for p in $(ip netns pids "$(ns "$i")" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
}

case "${1:-}" in
up)
	shift
	managers=1
	if [ "${1:-}" = "-m" ]; then
		managers=$2
		shift 2
	fi
	n=${1:?usage: nodes.sh up [-m K] N}
	if [ -n "$(nodes)" ]; then
		echo "nodes.sh: nodes are up already (nodes.sh down first)" >&2
		exit 1
	fi
	bridge_up
	for i in $(seq 1 "$n"); do node_up "$i"; done
	dk 1 swarm init --advertise-addr "$(addr 1)" >/dev/null
	mt=$(dk 1 swarm join-token -q manager)
	wt=$(dk 1 swarm join-token -q worker)
	for i in $(seq 2 "$n"); do
		t=$wt
		[ "$i" -le "$managers" ] && t=$mt
		dk "$i" swarm join --advertise-addr "$(addr "$i")" --token "$t" "$(addr 1):2377" >/dev/null
	done
	for _ in $(seq 1 60); do
		[ "$(dk 1 node ls -q --filter role=manager | wc -l)" = "$managers" ] &&
			[ "$(dk 1 node ls --format '{{.Status}}' | grep -c Ready)" = "$n" ] && break
		sleep 1
	done
	dk 1 node ls >&2
	for i in $(seq 1 "$n"); do echo "node$i DOCKER_HOST=$(host "$i")"; done
	;;
host) host "${2:?usage: nodes.sh host I}" ;;
addr) addr "${2:?usage: nodes.sh addr I}" ;;
load)
	tar=${2:?usage: nodes.sh load TAR}
	for i in $(nodes); do dk "$i" load -q -i "$tar" >/dev/null; done
	;;
stop) kill_node "${2:?usage: nodes.sh stop I}" ;;
start) daemon_up "${2:?usage: nodes.sh start I}" ;;
down)
	for i in $(nodes); do dk "$i" swarm leave --force >/dev/null 2>&1 || true; done
	for i in $(nodes); do kill -TERM "$(cat "$STATE/pid$i")" 2>/dev/null || true; done
	for i in $(nodes); do
		for _ in $(seq 1 20); do
			kill -0 "$(cat "$STATE/pid$i")" 2>/dev/null || break
			sleep 0.5
		done
		kill_node "$i"
		ip netns del "$(ns "$i")" 2>/dev/null || true
		rmdir "/tmp/$(ns "$i")-cgroup" 2>/dev/null || true
		rm -rf --one-file-system "$(data "$i")"
		rm -f "$STATE/pid$i" "$STATE/log$i"
	done
	ip link del "$BR" 2>/dev/null || true
	while iptables -D FORWARD -i "$BR" -o "$BR" -j ACCEPT 2>/dev/null; do :; done
	;;
*)
	sed -n '2,22p' "$0"
	exit 2
	;;
esac
