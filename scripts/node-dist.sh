#!/usr/bin/env bash
# Prints the directory of an official Node.js build (bin/node and include/),
# taken from the npm registry's node-linux-<arch> package and cached in
# .cache/node/. Usage: scripts/node-dist.sh <major> [x64|arm64]
set -euo pipefail
major=${1:?usage: node-dist.sh <major> [x64|arm64]}
arch=${2:-x64}
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="$root/.cache/node"
dir="$cache/$arch-$major"
if [[ ! -x "$dir/bin/node" ]]; then
  mkdir -p "$cache"
  tmp="$(mktemp -d "$cache/.pack.XXXXXX")"
  (cd "$tmp" && npm pack --silent "node-linux-$arch@$major" >/dev/null)
  tar -xzf "$tmp"/node-linux-"$arch"-*.tgz -C "$tmp"
  rm -rf "$dir"
  mv "$tmp/package" "$dir"
  rm -rf "$tmp"
fi
echo "$dir"
