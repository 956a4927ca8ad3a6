#!/usr/bin/env bash
# `npm run test:vm`: the addon's native unit tests (scripts/test-native.sh;
# USTACK_SKIP_NATIVE=1 leaves them out when they just ran), then the QEMU VM
# test (test/vm/run.mjs; USTACK_VM_SCENARIOS=full,vfio,em,tap,virtio,virtio-vfio,virtio-tap,shards-virtio
# selects, e.g. USTACK_VM_SCENARIOS=virtio-tap for one).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${USTACK_SKIP_NATIVE:-}" != 1 ]; then
  bash scripts/test-native.sh
fi
node test/vm/run.mjs
