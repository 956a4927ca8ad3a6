#!/usr/bin/env bash
# Builds and runs the e1000 driver core's host unit tests (no device, no VM):
# addon/e1000/ring_test.cc (ring arithmetic, TX offload contexts, slot
# ownership and the free stack shared with JavaScript, PCI addresses) and
# addon/dma/dma_test.cc (DMA regions are left out of a fork).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
${CXX:-c++} -std=c++17 -O1 -Wall -Wextra -Werror -Iaddon addon/e1000/ring_test.cc -o build/e1000-ring-test
dma_sources=()
for f in addon/dma/*.cc; do
  case "$f" in *_test.cc) ;; *) dma_sources+=("$f") ;; esac
done
${CXX:-c++} -std=c++17 -O1 -Wall -Wextra -Werror -Iaddon addon/dma/dma_test.cc "${dma_sources[@]}" -o build/e1000-dma-test
build/e1000-ring-test
build/e1000-dma-test
