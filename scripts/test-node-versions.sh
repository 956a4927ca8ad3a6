#!/usr/bin/env bash
# scripts/test-node-versions.sh [MAJOR|/path/to/node ...]: the suites that
# exercise the runtime, on other node versions (default: 22 and 24, or
# $USTACK_TEST_NODE_VERSIONS). npm test runs it after the full suite on the
# machine's node.
#
# The set: test/unit and test/property (codecs, TCP, the stack on virtual
# clocks and in-process links, the net/dgram drop-in and its semantics checked
# against the running node's own modules, undici and node:http on loopback,
# the CLI, the addon's byte kernels and lifetimes) and, where it exists,
# test/conformance (node's own net/dgram tests). Left out: the tests of the
# repository's tooling, which do not depend on node's version (the import
# rules, subnet claims), and everything that needs a TAP device, a veth or a
# VM (test/interop, test/vm) — those drive the kernel, not node.
#
# Each node comes from scripts/node-binary.sh (the npm registry's
# node-linux-<arch> packages, cached in ~/.cache/ustack/node/<version>).
# vitest runs under that binary (its workers are forked from it), with its
# directory first on PATH (so `node` and npm's shebangs mean the same node)
# and USTACK_TEST_NODE set to its path, for runners that start node
# processes of their own. The addon is one N-API build (binding.gyp:
# NAPI_VERSION=8), the same file on every version.
#
# Prints each node's version and time, then a summary; fails if any run failed.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "$#" -gt 0 ]; then wanted=("$@"); else read -r -a wanted <<<"${USTACK_TEST_NODE_VERSIONS:-22 24}"; fi

suites=(test/unit test/property)
[ -d test/conformance ] && suites+=(test/conformance)
exclude=(--exclude 'test/unit/dependency-rules.test.ts' --exclude 'test/unit/tcp-dependency-rules.test.ts' --exclude 'test/unit/subnet-claims.test.ts')

summary=()
failed=0
for want in "${wanted[@]}"; do
  if [[ $want == */* ]]; then
    bin=$want
  elif ! bin=$(bash scripts/node-binary.sh "$want"); then
    summary+=("node $want: could not be fetched")
    failed=1
    continue
  fi
  version=$("$bin" --version)
  echo "== node $version ($bin): ${suites[*]}"
  start=$SECONDS
  PATH="$(dirname "$bin"):$PATH" USTACK_TEST_NODE="$bin" "$bin" node_modules/vitest/vitest.mjs run "${suites[@]}" "${exclude[@]}"
  status=$?
  took=$((SECONDS - start))
  if [ "$status" = 0 ]; then
    summary+=("node $version: passed in ${took} s")
  else
    summary+=("node $version: FAILED (exit $status) in ${took} s")
    failed=1
  fi
done

echo "== other node versions: ${suites[*]}"
printf '   %s\n' "${summary[@]}"
exit "$failed"
