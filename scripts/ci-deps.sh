#!/usr/bin/env bash
# The Debian packages CI needs beyond the machine's toolchain: debootstrap (the
# prebuild root), qemu user-mode emulation and the arm64 C and C++ runtimes
# (the arm64 smoke test runs the registry's arm64 Node under qemu). Needs root.
set -euo pipefail
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
[[ -e /usr/aarch64-linux-gnu/lib/libc.so.6 ]] || need+=(libc6-arm64-cross)
[[ -e /usr/aarch64-linux-gnu/lib/libstdc++.so.6 ]] || need+=(libstdc++6-arm64-cross)
if [[ ${#need[@]} -gt 0 ]]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
