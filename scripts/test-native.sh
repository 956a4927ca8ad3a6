#!/usr/bin/env bash
# `npm run test:native`: builds and runs every native unit test of the addon,
# each addon/**/*_test.cc its own program, linked with the plain C++ core
# (the sources of addon/<folder>/ but addon/napi/, which needs node). No
# device, no VM, no node: ring arithmetic, TX offload contexts, slot
# ownership and the shared free stack, PCI addresses (e1000/ring_test), DMA
# regions left out of a fork (dma/dma_test), DMA view holds
# (dma/view_hold_test), the device registry (registry/device_registry_test),
# the XDP program on an eBPF interpreter and AF_XDP ring arithmetic
# (xdp/program_test, xdp/rings_test), the checksum kernel
# (bytes/bytes_test), the virtio_net_hdr (vnet_hdr/vnet_hdr_test),
# virtqueues and the virtio-net queues against a model device
# (virtio/net_queue_test), the virtio capability walk, feature negotiation
# and flow hashing (virtio/transport_test).
#
# Each test prints "N passed, N failed"; the script fails when any test fails,
# exits non-zero, or prints no such count. CXX picks the compiler;
# USTACK_NATIVE_CXXFLAGS adds flags, e.g. "-fsanitize=address,undefined" or
# "-fsanitize=thread".
set -euo pipefail
cd "$(dirname "$0")/.."

cxx=${CXX:-c++}
out=build/native-tests
mkdir -p "$out/obj"
# shellcheck disable=SC2206 # USTACK_NATIVE_CXXFLAGS is a list of flags
flags=(-std=c++17 -O1 -g -Wall -Wextra -Werror -pthread -Iaddon ${USTACK_NATIVE_CXXFLAGS:-})

mapfile -t core < <(find addon -mindepth 2 -name '*.cc' ! -name '*_test.cc' ! -path 'addon/napi/*' | sort)
mapfile -t tests < <(find addon -mindepth 2 -name '*_test.cc' | sort)

# The core once, as objects every test links with (a test uses what it needs).
objs=()
for src in "${core[@]}"; do
  rel=${src#addon/}
  obj="$out/obj/${rel//\//_}"
  obj="${obj%.cc}.o"
  "$cxx" "${flags[@]}" -c "$src" -o "$obj"
  objs+=("$obj")
done

passed=0
failed=0
bad=()
for t in "${tests[@]}"; do
  rel=${t#addon/}
  exe="$out/${rel//\//_}"
  exe="${exe%.cc}"
  echo "== $t"
  "$cxx" "${flags[@]}" "$t" "${objs[@]}" -o "$exe"
  set +e
  output=$("$exe" 2>&1)
  rc=$?
  set -e
  printf '%s\n' "$output"
  counts=$(printf '%s\n' "$output" | grep -Eo '[0-9]+ passed, [0-9]+ failed' | tail -n 1 || true)
  if [ -z "$counts" ]; then
    bad+=("$t (no 'N passed, N failed' line, exit $rc)")
    continue
  fi
  p=${counts%% passed*}
  f=${counts#*passed, }
  f=${f%% failed*}
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ]; then bad+=("$t ($counts, exit $rc)"); fi
done

echo "native tests: ${#tests[@]} programs, $passed passed, $failed failed"
if [ "${#bad[@]}" -gt 0 ]; then
  printf 'FAILED: %s\n' "${bad[@]}"
  exit 1
fi
