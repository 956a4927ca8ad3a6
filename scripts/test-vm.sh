#!/usr/bin/env bash
# `npm run test:vm`: the e1000 driver's ring arithmetic unit tests, then the
# QEMU VM test (test/vm/run.mjs; USTACK_VM_SCENARIOS=full,vfio,em selects).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/test-e1000-ring.sh
node test/vm/run.mjs
