#!/usr/bin/env bash
# Builds and runs the e1000 ring arithmetic unit tests (addon/e1000/ring_test.cc).
set -euo pipefail
cd "$(dirname "$0")/.."
out="build/e1000-ring-test"
mkdir -p build
${CXX:-c++} -std=c++17 -O1 -Wall -Wextra -Werror -Iaddon addon/e1000/ring_test.cc -o "$out"
"$out"
