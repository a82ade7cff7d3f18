#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Runs every benchmark against a throwaway redis-server on loopback and
# prints the markdown report (ratio tables, targets met or missed, and the
# disassembly of a resolved-proxy access) to stdout. Progress goes to stderr.
#
#   bash bench/run.sh                 full run (about 30 minutes on 2 cores)
#   bash bench/run.sh --smoke         CI: each benchmark once on small objects
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
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=(--smoke) ;;
    --) shift; extra=("$@"); break ;;
    *) echo "usage: bash bench/run.sh [--smoke] [-- proxystore_bench args]" >&2; exit 2 ;;
  esac
  shift
done

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
pid=""
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# A free loopback port: let the kernel pick one (bind to port 0), then start
# the server on it; retry if someone took it in between.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
    echo $((20000 + RANDOM % 40000))
}
for attempt in 1 2 3 4 5; do
  port=$(free_port)
  "$server" --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
    --dir "$work" --logfile "$work/redis.log" &
  pid=$!
  for _ in $(seq 100); do
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then break 2; fi
    sleep 0.1
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
done
[ -n "$pid" ] || { echo "could not start redis-server; log:" >&2; cat "$work/redis.log" >&2 || true; exit 1; }
echo "redis-server $("$server" --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') on 127.0.0.1:$port" >&2

status=0
"$bench" --redis-port="$port" --scratch="$work/scratch" "${smoke[@]}" "${extra[@]}" || status=$?

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
