#!/usr/bin/env bash
# The project's test command (README: `npm test`). Works on a fresh machine:
# installs the Debian tools the interop tests drive, installs npm packages
# (which builds the addon and compiles TypeScript), type-checks, runs the
# addon's native tests, then vitest on this machine's node followed by the
# runtime suites on node 22 and 24 (scripts/test-node-versions.sh;
# USTACK_TEST_NODE_VERSIONS picks others, "none" skips them), with the QEMU
# VM test running beside them. Arguments go to the first vitest run, and a
# run given arguments (a few test files) skips the other versions.
set -euo pipefail
cd "$(dirname "$0")/.."

# tool:package pairs the tests use: the kernel side of TAP tests, and xz for
# the conformance suite (node's tests come in Debian's .orig.tar.xz).
tools=(xz:xz-utils ip:iproute2 ping:iputils-ping arping:arping tcpdump:tcpdump nc:netcat-openbsd tshark:tshark curl:curl socat:socat ethtool:ethtool dnsmasq:dnsmasq hping3:hping3 strace:strace cc:gcc openssl:openssl ss:iproute2)
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

# The addon must build here (a user's install may go on without it).
export USTACK_ADDON_REQUIRED=1
if [ ! -d node_modules ]; then
  npm ci --no-audit --no-fund
else
  npm run --silent build
fi
echo "test.sh: node $(node --version), npm $(npm --version)"
# The other node versions, fetched first: test/package also runs its
# consumers on them (USTACK_TEST_NODES).
other_nodes=()
if [ "$#" = 0 ] && [ "${USTACK_TEST_NODE_VERSIONS:-}" != none ]; then
  read -r -a versions <<<"${USTACK_TEST_NODE_VERSIONS:-22 24}"
  for v in "${versions[@]}"; do other_nodes+=("$(bash scripts/node-binary.sh "$v")"); done
  USTACK_TEST_NODES=$(IFS=:; echo "${other_nodes[*]}")
  export USTACK_TEST_NODES
fi
npx tsc -p tsconfig.test.json --noEmit
# The import rules of ARCHITECTURE.md (layers, no cycles), by dependency-cruiser.
npm run --silent lint:deps
# The addon's native unit tests (every addon/**/*_test.cc; no device, no node).
npm run --silent test:native
# The VM test runs beside the vitest suites: QEMU's TCG keeps one core busy
# and vitest (one file at a time) mostly the other, so the whole run takes
# about as long as the longer of the two. Its output goes to a file, printed
# when both are done. USTACK_SKIP_VM=1 leaves it out.
vm_pid=
vm_log=
if [ "${USTACK_SKIP_VM:-}" != 1 ]; then
  vm_log=$(mktemp "${TMPDIR:-/tmp}/ustack-vm-test.XXXXXX")
  # A session of its own, so an interrupted run (Ctrl-C, CI's SIGTERM) stops
  # QEMU and its helpers with it rather than leaving them behind.
  USTACK_SKIP_NATIVE=1 setsid npm run --silent test:vm >"$vm_log" 2>&1 &
  vm_pid=$!
  trap 'if [ -n "$vm_pid" ]; then kill -TERM -- "-$vm_pid" 2>/dev/null || true; fi' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  echo "test.sh: the VM test (e1000 and virtio-net on QEMU's models) runs in the background; its output follows the vitest suites"
fi
# A vitest failure is reported after the VM test, like one on another node.
vitest_failed=0
npx vitest run "$@" || vitest_failed=1
versions_failed=0
if [ "${#other_nodes[@]}" -gt 0 ]; then
  bash scripts/test-node-versions.sh "${other_nodes[@]}" || versions_failed=1
fi
vm_failed=0
if [ -n "$vm_pid" ]; then
  wait "$vm_pid" || vm_failed=1
  vm_pid=
  echo "== VM test (test/vm/run.mjs)"
  cat "$vm_log"
  rm -f "$vm_log"
fi
[ "$vitest_failed" = 1 ] && echo "test.sh: the vitest suites failed on node $(node --version) (see above)"
[ "$versions_failed" = 1 ] && echo "test.sh: the suites failed on another node version (see the summary above)"
[ "$vm_failed" = 1 ] && echo "test.sh: the VM test failed (see its output above)"
[ "$vitest_failed" = 0 ] && [ "$versions_failed" = 0 ] && [ "$vm_failed" = 0 ]
