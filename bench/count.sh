#!/usr/bin/env bash
# Instructions per unit (transaction, echo, MiB) for one scenario of bench/count.ts,
# counted by callgrind: two runs of N and 2N units after the same warm-up;
# the difference in instructions over the difference in units (start-up,
# warm-up and JIT compilation before the measured part cancel out).
#
#   bash bench/count.sh rr 10000 [WARM]     bash bench/count.sh udp 10000     bash bench/count.sh bulk 16
#
# COUNT_SPLIT=1 also splits the instructions per unit by component and by
# function (bench/count-split.mjs; JIT code named from node's --perf-basic-prof map).
#
# Needs valgrind. Slow (callgrind runs node ~50x slower): minutes per scenario.
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:?scenario: rr, udp, bulk or bulk6}
n=${2:?units}
warm=${3:-}
npx tsc -p bench/tsconfig.json
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
split=${COUNT_SPLIT:-0}
perf=()
[ "$split" = 1 ] && perf=(--perf-basic-prof)
count() {
  valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file="$out/cg.$1" \
    node "${perf[@]}" --single-threaded bench/.build/bench/count.js "$scenario" "$1" $warm >"$out/out.$1" 2>"$out/err.$1" &
  local pid=$!
  wait "$pid"
  [ "$split" = 1 ] && mv "/tmp/perf-$pid.map" "$out/perf.$1.map"
  grep -o 'Collected : [0-9]*' "$out/err.$1" | awk '{print $3}'
}
a=$(count "$n")
b=$(count "$((2 * n))")
tail -1 "$out/out.$((2 * n))"
[ "$split" = 1 ] && node bench/count-split.mjs "$n" "$out/cg.$n" "$out/perf.$n.map" "$out/cg.$((2 * n))" "$out/perf.$((2 * n)).map" 40
echo "{\"scenario\":\"$scenario\",\"instructionsPerUnit\":$(( (b - a) / n )),\"runs\":[[$n,$a],[$((2 * n)),$b]]}"
