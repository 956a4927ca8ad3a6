#!/usr/bin/env bash
# scripts/node-binary.sh MAJOR: prints the path of a node MAJOR.x binary.
#
# The binaries come from the npm registry's node-linux-<arch> packages
# (bin/node, plus the headers under include/node), the newest MAJOR.x.y it
# has, fetched with npm itself (its cache and its registry settings; no
# download from nodejs.org). They are kept outside the tree, in
# ${USTACK_NODE_CACHE:-~/.cache/ustack/node}/<version>/, so a second run costs
# one registry query; with the registry unreachable the newest cached MAJOR.x
# is used. When the running node is already MAJOR.x, it is used as it is.
set -euo pipefail

major=${1:?usage: scripts/node-binary.sh MAJOR}
case $major in (*[!0-9]*|'') echo "node-binary.sh: MAJOR must be a number, not '$major'" >&2; exit 2;; esac

if [ "$(node -p 'process.versions.node.split(".")[0]')" = "$major" ]; then
  command -v node
  exit 0
fi

case $(uname -m) in
  x86_64) arch=x64 ;;
  aarch64|arm64) arch=arm64 ;;
  *) echo "node-binary.sh: no node-linux package for $(uname -m)" >&2; exit 1 ;;
esac
pkg=node-linux-$arch
cache=${USTACK_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ustack/node}
mkdir -p "$cache"

newest_cached() {
  find "$cache" -mindepth 1 -maxdepth 1 -name "$major.*" -printf '%f\n' 2>/dev/null | sort -V | tail -1
}

# The newest MAJOR.x.y the registry has (the last of the versions matching ^MAJOR).
version=$(npm view "$pkg@$major" version --json 2>/dev/null |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{const v=JSON.parse(s);console.log(Array.isArray(v)?v[v.length-1]:v)}catch{}})' || true)
if [ -z "$version" ]; then
  version=$(newest_cached)
  if [ -z "$version" ]; then
    echo "node-binary.sh: cannot ask the npm registry for $pkg@$major and none is cached in $cache" >&2
    exit 1
  fi
  echo "node-binary.sh: registry unreachable; using cached node $version" >&2
fi

dir=$cache/$version
if [ ! -x "$dir/bin/node" ]; then
  tmp=$(mktemp -d "$cache/.fetch-$version.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$pkg@$version" >/dev/null)
  tar -xzf "$tmp/$pkg-$version.tgz" -C "$tmp"
  # Renamed into place whole, so a run interrupted half-way leaves no half a node.
  rm -rf "$dir"
  mv "$tmp/package" "$dir"
fi
"$dir/bin/node" --version >/dev/null
echo "$dir/bin/node"
