#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Runs every benchmark against a throwaway redis-server and a throwaway
# 3-primary Redis Cluster on loopback, and prints the markdown report (ratio tables, targets met or missed, and the
# disassembly of a resolved-proxy access) to stdout, with the MPI rows and the UCX peer
# rows (bench/peer_benchmarks.cpp) when the build has them. Progress goes to stderr.
#
#   bash bench/run.sh                 full run (about 30 minutes on 2 cores)
#   bash bench/run.sh --smoke         CI: each benchmark once on small objects
#   bash bench/run.sh --plot FILE     also draw latency against object size (log-log,
#                                     the library vs its baselines) from the same
#                                     run into FILE (SVG; needs gnuplot), e.g.
#                                     docs/performance-latency.svg
#   bash bench/run.sh -- ARGS...      extra arguments for proxystore_bench, e.g.
#                                     --benchmark_filter=redis/get
#
# Environment:
#   PROXYSTORE_BUILD_DIR     an existing build tree with -DPROXYSTORE_BUILD_BENCHMARKS=ON
#                            (default: configure and build build-bench, Release)
#   PROXYSTORE_REDIS_SERVER  the redis-server binary (default: from PATH)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

smoke=()
extra=()
plot=""
usage="usage: bash bench/run.sh [--smoke] [--plot FILE.svg] [-- proxystore_bench args]"
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=(--smoke) ;;
    --plot) [ $# -ge 2 ] || { echo "$usage" >&2; exit 2; }; plot=$2; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
  shift
done
if [ -n "$plot" ] && ! command -v gnuplot >/dev/null 2>&1; then
  echo "--plot needs gnuplot (bash .ci/setup installs it)" >&2
  exit 2
fi

build=${PROXYSTORE_BUILD_DIR:-build-bench}
if [ -z "${PROXYSTORE_BUILD_DIR:-}" ] && [ ! -f "$build/CMakeCache.txt" ]; then
  generator=()
  if command -v ninja >/dev/null 2>&1; then
    generator=(-G Ninja)
  fi
  cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DPROXYSTORE_BUILD_BENCHMARKS=ON -DPROXYSTORE_BUILD_TESTS=OFF \
    -DPROXYSTORE_BUILD_EXAMPLES=OFF >&2
fi
cmake --build "$build" --target proxystore_bench proxystore_bench_access -j2 >&2
bench="$build/bench/proxystore_bench"
[ -x "$bench" ] || { echo "no $bench: configure with -DPROXYSTORE_BUILD_BENCHMARKS=ON" >&2; exit 1; }

server=${PROXYSTORE_REDIS_SERVER:-$(command -v redis-server || true)}
[ -n "$server" ] || { echo "redis-server not found (set PROXYSTORE_REDIS_SERVER)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/proxystore-bench.XXXXXX")
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# A free loopback port: let the kernel pick one (bind to port 0); with an
# offset, port + offset must be free too (a cluster node's bus port is
# port + 10000). The server is started on it right away; start_server
# retries if someone took it in between.
free_port() {
  python3 - "$1" 2>/dev/null <<'PY' || echo $((20000 + RANDOM % 30000))
import socket, sys
offset = int(sys.argv[1])
while True:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    if offset == 0:
        break
    if port + offset < 65536:
        try:
            t = socket.socket()
            t.bind(("127.0.0.1", port + offset))
            t.close()
            break
        except OSError:
            pass
    s.close()
print(port)
PY
}

# start_server NAME OFFSET [redis-server args...]: starts a private
# redis-server (loopback only, persistence off, its own directory
# $work/NAME) and waits for PING; sets $port. Its pid joins $pids, so the
# EXIT trap kills it whatever happens next.
start_server() {
  local name=$1 offset=$2 dir="$work/$1" pid
  shift 2
  mkdir -p "$dir"
  for _ in 1 2 3 4 5; do
    port=$(free_port "$offset")
    "$server" --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
      --dir "$dir" --logfile "$dir/redis.log" "$@" &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 100); do
      if ! kill -0 "$pid" 2>/dev/null; then break; fi
      if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then return 0; fi
      sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  echo "could not start redis-server $name; log:" >&2
  cat "$dir/redis.log" >&2 || true
  exit 1
}

start_server single 0
single_port=$port
echo "redis-server $("$server" --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') on 127.0.0.1:$single_port" >&2

# A throwaway Redis Cluster next to it: 3 primaries, no replicas (the
# store reads and writes primaries only; replicas would only add
# replication traffic competing for the same cores). Every failure here is
# fatal: the cluster rows are part of the run.
cluster_nodes=3
seeds=()
for i in $(seq "$cluster_nodes"); do
  start_server "cluster-$i" 10000 --cluster-enabled yes --cluster-config-file nodes.conf \
    --cluster-node-timeout 5000
  seeds+=("127.0.0.1:$port")
done
if ! timeout 60 redis-cli --cluster create "${seeds[@]}" --cluster-replicas 0 --cluster-yes \
  >"$work/cluster-create.log" 2>&1; then
  echo "could not create the Redis Cluster (${seeds[*]}):" >&2
  cat "$work/cluster-create.log" >&2
  exit 1
fi
cluster_ok() {
  local seed
  for seed in "${seeds[@]}"; do
    redis-cli -h "${seed%:*}" -p "${seed##*:}" cluster info 2>/dev/null |
      grep -q '^cluster_state:ok' || return 1
  done
}
for _ in $(seq 300); do
  if cluster_ok; then break; fi
  sleep 0.1
done
cluster_ok || { echo "Redis Cluster ${seeds[*]}: cluster_state is not ok on every node after 30 s" >&2; exit 1; }
cluster_seeds=$(IFS=,; echo "${seeds[*]}")
echo "Redis Cluster of $cluster_nodes primaries on $cluster_seeds" >&2

status=0
"$bench" --redis-port="$single_port" --redis-cluster="$cluster_seeds" --scratch="$work/scratch" \
  --plot-data="$work/latency.tsv" "${smoke[@]}" "${extra[@]}" || status=$?
if [ -n "$plot" ]; then
  gnuplot -e "data='$work/latency.tsv'; out='$plot'" bench/latency.gp
  echo "latency plot: $plot (data: the tables above)" >&2
fi

# MPI rows (when proxystore::mpi is built): plain MPI vs proxies over MPI, and
# ProxyExecutor vs by-value tasks, under mpiexec -n 5 on loopback/shared memory.
mpi_flags=$(sed -n 's/^PROXYSTORE_MPIEXEC_FLAGS:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null)
mpiexec=$(sed -n 's/^MPIEXEC_EXECUTABLE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null)
if [ -n "$mpiexec" ] && grep -q '^PROXYSTORE_MPIEXEC_FLAGS:' "$build/CMakeCache.txt"; then
  cmake --build "$build" --target proxystore_bench_mpi -j2 >&2
  mpi_env=$(sed -n 's/^PROXYSTORE_MPIEXEC_ENVIRONMENT:[A-Z]*=//p' "$build/CMakeCache.txt" | tr ';' ' ')
  # shellcheck disable=SC2086 # word splitting of the cached flag lists is intended
  env $mpi_env "$mpiexec" -n 5 ${mpi_flags//;/ } "$build/bench/proxystore_bench_mpi" \
    --redis-port="$single_port" "${smoke[@]}" || status=$?
else
  echo "proxystore::mpi not built in $build: MPI rows skipped" >&2
fi

# Peer rows (when the library is built with UCX): PeerStore and EndpointStore
# vs a raw UCX transfer and vs RedisStore, producer and consumer processes.
if [ -d "$build/bench/CMakeFiles/proxystore_bench_peer.dir" ]; then
  cmake --build "$build" --target proxystore_bench_peer -j2 >&2
  "$build/bench/proxystore_bench_peer" --redis-port="$single_port" "${smoke[@]}" || status=$?
else
  echo "proxystore built without UCX in $build: peer rows skipped" >&2
fi

# What a resolved access compiles to (docs/performance.md quotes it).
if [ ${#smoke[@]} -eq 0 ] && command -v objdump >/dev/null 2>&1; then
  object=$(find "$build/bench" -name 'access_codegen.cpp.o' | head -n 1)
  if [ -n "$object" ]; then
    echo
    echo "### Resolved access: \`proxy->size()\` and \`vector.size()\` (objdump -dr)"
    echo
    echo '```'
    objdump -dr --no-show-raw-insn -C "$object" |
      awk '/^[0-9a-f]+ <(proxied_size|direct_size)/,/^$/'
    echo '```'
  fi
fi
exit "$status"
