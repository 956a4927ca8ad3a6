#!/usr/bin/env bash
# The project's test command (README: `npm test`). Works on a fresh machine:
# installs the Debian tools the interop tests drive, installs npm packages
# (which builds the addon and compiles TypeScript), type-checks, runs vitest.
set -euo pipefail
cd "$(dirname "$0")/.."

# tool:package pairs the interop tests use (the kernel side of TAP tests).
tools=(ip:iproute2 ping:iputils-ping arping:arping tcpdump:tcpdump nc:netcat-openbsd tshark:tshark curl:curl socat:socat ethtool:ethtool dnsmasq:dnsmasq hping3:hping3 strace:strace cc:gcc openssl:openssl ss:iproute2)
missing=()
for pair in "${tools[@]}"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "test.sh: not root or no apt-get; tests needing ${missing[*]} will skip with a reason"
  fi
fi

if [ ! -d node_modules ]; then
  npm ci --no-audit --no-fund
else
  npm run --silent build
fi
npx tsc -p tsconfig.test.json --noEmit
# The import rules of ARCHITECTURE.md (layers, no cycles), by dependency-cruiser.
npm run --silent lint:deps
# The addon's native unit tests (every addon/**/*_test.cc; no device, no node).
npm run --silent test:native
npx vitest run "$@"
# The e1000 driver on QEMU's models (skips with a reason when QEMU cannot
# run). USTACK_SKIP_VM=1 leaves it out.
if [ "${USTACK_SKIP_VM:-}" != 1 ]; then
  USTACK_SKIP_NATIVE=1 npm run --silent test:vm
fi
