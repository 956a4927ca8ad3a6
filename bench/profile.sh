#!/usr/bin/env bash
# CPU profiles of each scenario, ustack side only (node --cpu-prof), and the
# top self-time functions of each: bench/profiles/<scenario>/ and
# bench/profiles/summary.txt.   npm run bench:profile [-- scenario ...]
set -euo pipefail
cd "$(dirname "$0")/.."
scenarios=("$@")
[ ${#scenarios[@]} -eq 0 ] && scenarios=(rr bulk udp conn hold raw tap)
out=bench/profiles
npx tsc -p bench/tsconfig.json
mkdir -p "$out"
: > "$out/summary.txt"
for s in "${scenarios[@]}"; do
  rm -rf "$out/$s"
  extra=()
  [ "$s" = hold ] && extra=(--hold=10000)
  [ "$s" = bulk ] && extra=(--bulk-mib=256)
  node --expose-gc --cpu-prof --cpu-prof-dir="$out/$s" bench/.build/bench/run.js \
    --quick --only="$s" --impl=ustack --rounds=2 "${extra[@]}" > "$out/$s.log" 2>&1 || true
  # The main thread's profile is the largest.
  prof=$(ls -S "$out/$s"/*.cpuprofile | head -1)
  { echo "== $s ($prof)"; node bench/cpuprofile-top.mjs "$prof" 15; echo; } | tee -a "$out/summary.txt"
done
