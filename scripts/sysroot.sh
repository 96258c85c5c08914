#!/usr/bin/env bash
# Makes (once) the build root for prebuilds: Debian 11 "bullseye", whose
# glibc is 2.31, with g++, make, python3 and the aarch64 cross compiler.
# Binaries built there need no symbol version newer than glibc 2.28 (the
# oldest glibc Node 20-26 run on; test/install/prebuilds.test.ts checks).
# Debian 10 (glibc 2.28 itself) is no longer on the Debian mirror.
# Needs root (debootstrap, chroot). Prints the root's path.
set -euo pipefail
[[ $(id -u) -eq 0 ]] || { echo "sysroot.sh: needs root (debootstrap, chroot, mount): run it with sudo" >&2; exit 1; }
root="$(cd "$(dirname "$0")/.." && pwd)"
sysroot="${UVD_SYSROOT:-$root/.cache/sysroot/bullseye}"
if [[ ! -f "$sysroot/.uv-drain-ready" ]]; then
  if ! command -v debootstrap >/dev/null; then
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
  fi
  rm -rf "$sysroot" && mkdir -p "$(dirname "$sysroot")"
  debootstrap --variant=minbase --include=g++,make,python3,g++-aarch64-linux-gnu \
    bullseye "$sysroot" http://deb.debian.org/debian >&2
  touch "$sysroot/.uv-drain-ready"
fi
echo "$sysroot"
