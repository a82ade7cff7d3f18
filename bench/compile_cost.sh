#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# What including proxystore costs a consumer's build: compile time and peak
# memory of three translation units at -O2 (compile only, no link), as
# ratios to a baseline, with each compiler. Prints a markdown table.
#
#   baseline   bench/compile_cost/baseline.cpp: only the bare dependencies
#              (fmt/format.h, a cereal binary archive with vector and
#              string, std containers) deserializing a std::vector<double>
#   umbrella   bench/compile_cost/proxy_consumer.cpp with
#              <proxystore/proxystore.hpp>: deserializes a
#              Proxy<std::vector<double>> and uses it
#   consumer   the same file with <proxystore/consumer.hpp>
#
#   bash bench/compile_cost.sh                  g++ and clang++, 5 rounds
#   bash bench/compile_cost.sh -n 3 g++         3 rounds, g++ only
#   bash bench/compile_cost.sh --per-header     also: each public header alone
#                                               (preprocessed lines, time, memory)
#   bash bench/compile_cost.sh --include DIR    measure the headers in DIR instead of
#                                               include/ (e.g. an older tree: before/after);
#                                               without DIR/proxystore/consumer.hpp the
#                                               consumer row is left out
#
# Compile time depends on the machine's load, so the three TUs are compiled
# interleaved (in a shuffled order each round) and each cell is the median
# of the rounds; the load average before and after is printed. Only the
# ratios are meant to be compared across machines. Needs /usr/bin/time (GNU).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

rounds=5
per_header=0
include_dir=include
compilers=()
while [ $# -gt 0 ]; do
  case "$1" in
    -n) [ $# -ge 2 ] || { echo "-n needs a count" >&2; exit 2; }; rounds=$2; shift ;;
    --per-header) per_header=1 ;;
    --include) [ $# -ge 2 ] || { echo "--include needs a directory" >&2; exit 2; }; include_dir=$2; shift ;;
    -h|--help) sed -n '4,28p' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) compilers+=("$1") ;;
  esac
  shift
done
[ ${#compilers[@]} -gt 0 ] || compilers=(g++ clang++)
[ -x /usr/bin/time ] || { echo "needs GNU time (/usr/bin/time; Debian package 'time')" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/proxystore-compile-cost.XXXXXX")
trap 'rm -rf "$work"' EXIT

flags=(-std=c++17 -O2 -c -o "$work/out.o" -I "$include_dir")
src=bench/compile_cost
declare -A tu_args=(
  [baseline]="$src/baseline.cpp"
  [umbrella]="-DCOMPILE_COST_UMBRELLA $src/proxy_consumer.cpp"
  [consumer]="$src/proxy_consumer.cpp"
)
tus=(baseline umbrella consumer)
[ -f "$include_dir/proxystore/consumer.hpp" ] || tus=(baseline umbrella)

# measure CXX TU -> "seconds peak_kib" (wall time and max RSS of the compiler)
measure() {
  local cxx=$1 tu=$2
  # shellcheck disable=SC2086 # tu_args holds a flag and a file
  /usr/bin/time -f '%e %M' -o "$work/time" "$cxx" "${flags[@]}" ${tu_args[$tu]} \
    2>"$work/stderr" || { cat "$work/stderr" >&2; echo "$cxx failed on $tu" >&2; exit 1; }
  cat "$work/time"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

load() { cut -d' ' -f1-3 /proc/loadavg; }

echo "## Compile cost (-std=c++17 -O2, compile only; median of $rounds interleaved rounds)"
echo
echo "Headers: \`$include_dir\`. Load average before: $(load); $(nproc) cores."
echo
echo "| compiler | TU | time (s) | peak memory (MB) | time ratio | memory ratio | preprocessed lines |"
echo "|---|---|---:|---:|---:|---:|---:|"
for cxx in "${compilers[@]}"; do
  command -v "$cxx" >/dev/null || { echo "$cxx not found" >&2; exit 1; }
  for tu in "${tus[@]}"; do : >"$work/$tu.s"; : >"$work/$tu.m"; done
  "$cxx" "${flags[@]}" "$src/baseline.cpp" >/dev/null  # warm the file cache
  for _ in $(seq "$rounds"); do
    for tu in $(printf '%s\n' "${tus[@]}" | shuf); do
      read -r seconds kib < <(measure "$cxx" "$tu")
      echo "$seconds" >>"$work/$tu.s"
      echo "$kib" >>"$work/$tu.m"
    done
  done
  base_s=$(median <"$work/baseline.s")
  base_m=$(median <"$work/baseline.m")
  version=$("$cxx" --version | head -n 1)
  for tu in "${tus[@]}"; do
    s=$(median <"$work/$tu.s")
    m=$(median <"$work/$tu.m")
    # shellcheck disable=SC2086
    lines=$("$cxx" -std=c++17 -E -P -I "$include_dir" ${tu_args[$tu]} | grep -cv '^[[:space:]]*$')
    awk -v c="$version" -v t="$tu" -v s="$s" -v m="$m" -v bs="$base_s" -v bm="$base_m" \
      -v l="$lines" 'BEGIN { printf "| %s | %s | %.2f | %.0f | %.2f× | %.2f× | %d |\n",
        c, t, s, m / 1024, s / bs, m / bm, l }'
  done
done
echo
echo "Load average after: $(load)."

if [ "$per_header" -eq 1 ]; then
  cxx=${compilers[0]}
  echo
  echo "### Each public header alone ($cxx, -O2, one run each)"
  echo
  echo "| header | preprocessed lines | time (s) | peak memory (MB) |"
  echo "|---|---:|---:|---:|"
  find "$include_dir/proxystore" -name '*.hpp' ! -path '*/detail/*' ! -name mpi.hpp | sort |
    while read -r header; do
      name=${header#"$include_dir"/}
      printf '#include <%s>\n' "$name" >"$work/one.cpp"
      lines=$("$cxx" -std=c++17 -E -P -I "$include_dir" "$work/one.cpp" | grep -cv '^[[:space:]]*$')
      /usr/bin/time -f '%e %M' -o "$work/time" "$cxx" "${flags[@]}" "$work/one.cpp"
      read -r seconds kib <"$work/time"
      awk -v h="$name" -v l="$lines" -v s="$seconds" -v m="$kib" \
        'BEGIN { printf "| `%s` | %d | %.2f | %.0f |\n", h, l, s, m / 1024 }'
    done
fi
