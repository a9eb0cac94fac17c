#!/usr/bin/env bash
# The mitosis benchmark: one command, from any directory.
#
#   bench/run.sh                  everything, writes BENCHMARKS.md (about 22 min; the function
#                                 calls use the Docker daemon when one answers)
#   bench/run.sh -quick           1 round of 3 s, no reaction run; writes bench/out/BENCHMARKS.md
#   bench/run.sh reaction         only the load-step reaction run (about 4 min)
#   bench/run.sh https            only HTTPS: mitosis vs nginx, same certificate (about 3 min)
#   bench/run.sh functions        only the cost of one function call: process, and with a
#                                 Docker daemon (Swarm manager) container and overlay (about 2 min)
#   bench/run.sh loops|memory|profile [flags]
#
# Flags (bench/out/bin/harness -h lists all): -rounds 3 -duration 10s
# -rates 5000,10000 -conns 64 -port-base 19000 -idle-conns 10000 -out bench/out
#
# It installs wrk, nginx, HAProxy and Caddy from Debian packages when they
# are missing, builds mitosis and the programs of bench/ into bench/out/bin,
# raises the open-file limit for the 10,000-connection memory test and runs
# bench/harness. Everything listens on 127.0.0.1 from -port-base (19000) on;
# every process the run started is stopped when it ends, however it ends.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cd "$repo"
out="bench/out"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
	if [[ "${args[$i]}" == "-out" && $((i + 1)) -lt ${#args[@]} ]]; then out="${args[$((i + 1))]}"; fi
	if [[ "${args[$i]}" == -out=* ]]; then out="${args[$i]#-out=}"; fi
done

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need+=(nginx-light)
command -v haproxy >/dev/null || [[ -x /usr/sbin/haproxy ]] || need+=(haproxy)
command -v caddy >/dev/null || need+=(caddy)
if ((${#need[@]})); then
	echo "bench: installing ${need[*]}" >&2
	sudo=""
	[[ $(id -u) -eq 0 ]] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
fi
export PATH="$PATH:/usr/sbin:/usr/local/go/bin"
command -v go >/dev/null || { echo "bench: needs Go (https://go.dev/dl) on PATH" >&2; exit 1; }

bin="$out/bin"
mkdir -p "$bin"
echo "bench: building into $bin" >&2
go build -o "$bin/mitosis" .
# The profiling variant: the same package main plus one file, added by an
# overlay so the tree is never edited.
overlay="$out/pprof-overlay.json"
printf '{"Replace":{"%s":"%s"}}\n' "$repo/zz_bench_pprof.go" "$here/pprof_overlay.go.in" >"$overlay"
go build -overlay "$overlay" -o "$bin/mitosis-pprof" .
for p in upstream openloop idleconns timeline harness; do
	go build -o "$bin/$p" "./bench/$p"
done
# fncost copies itself into a FROM-scratch image: it must be static.
CGO_ENABLED=0 go build -o "$bin/fncost" ./bench/fncost

# 10,000 idle connections need as many descriptors in the proxy and in the
# helper: raise the soft limit to the hard one (at least 20000 expected).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ "$(ulimit -n)" != unlimited && "$(ulimit -n)" -lt 20000 ]]; then
	echo "bench: warning: open-file limit $(ulimit -n) < 20000; lower -idle-conns" >&2
fi

harness_pid=""
cleanup() {
	if [[ -n "$harness_pid" ]] && kill -0 "$harness_pid" 2>/dev/null; then
		kill -TERM "$harness_pid" 2>/dev/null || true
		wait "$harness_pid" 2>/dev/null || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$bin/harness" "$@" -out "$out" -bin "$bin" -repo "$repo" -cmd "bench/run.sh${*:+ $*}" &
harness_pid=$!
wait "$harness_pid"
