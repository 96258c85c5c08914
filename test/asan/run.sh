#!/usr/bin/env bash
# npm run test:asan — the whole test suite over native code built with
# AddressSanitizer + UndefinedBehaviorSanitizer (gcc). Zero reports expected.
#
# The sanitized build never touches this checkout's build/, dist/ or
# test/fixtures/build/: the sources are copied to a private staging directory
# (node_modules is symlinked), built and tested there, then the directory is
# removed. So `npm test` afterwards still runs the normal binaries, and a
# vitest run going on in this checkout meanwhile is not disturbed.
#
# Needs `npm ci` first. Set ASAN_KEEP=1 to keep the staging directory. With
# file arguments (`npm run test:asan -- test/birth-marks.test.ts`) only those run.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

say() { printf '[test:asan] %s\n' "$*" >&2; }

if [ ! -d node_modules/vitest ]; then
  say "node_modules is missing: run npm ci first"
  exit 1
fi

# --- Toolchain: gcc, g++ and their ASan/UBSan runtimes -----------------------
export CC=gcc CXX=g++
SAN='-fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all'

toolchain_ok() {
  command -v "$CC" >/dev/null && command -v "$CXX" >/dev/null || return 1
  local t
  t=$(mktemp -d)
  printf 'int main(void){return 0;}\n' >"$t/t.c"
  # shellcheck disable=SC2086
  "$CXX" $SAN -x c++ "$t/t.c" -o "$t/t" 2>/dev/null && "$t/t"
  local rc=$?
  rm -rf "$t"
  return $rc
}

if ! toolchain_ok; then
  # Debian: g++ pulls in libgcc-N-dev, which pulls in libasan and libubsan for
  # that gcc. If g++ is there already, install that gcc's own libgcc-N-dev.
  pkgs=(g++)
  if command -v gcc >/dev/null; then pkgs+=("libgcc-$(gcc -dumpversion | cut -d. -f1)-dev"); fi
  sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { say "need root (or sudo) to install ${pkgs[*]}"; exit 1; }
    sudo=(sudo)
  fi
  say "installing ${pkgs[*]} (sanitizer runtimes missing)"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
  toolchain_ok || { say "gcc still cannot build with $SAN"; exit 1; }
fi

LIBASAN=$("$CC" -print-file-name=libasan.so)
[ -f "$LIBASAN" ] || { say "libasan.so not found ($LIBASAN)"; exit 1; }

# --- Staging copy ------------------------------------------------------------
stage=$(mktemp -d "${TMPDIR:-/tmp}/uv-drain-asan.XXXXXX")
cleanup() {
  if [ "${ASAN_KEEP:-}" = 1 ]; then say "kept $stage"; else rm -rf "$stage"; fi
}
trap cleanup EXIT

tar -C "$root" -cf - \
  --exclude=./.git --exclude=./node_modules --exclude=./build --exclude=./dist \
  --exclude=./prebuilds --exclude=./test/fixtures/build --exclude=./bench/results \
  --exclude='./.vitest*' . | tar -C "$stage" -xf -
ln -s "$root/node_modules" "$stage/node_modules"
cd "$stage"

# --- Sanitized build -----------------------------------------------------------
# gyp's Makefiles put $CFLAGS/$CXXFLAGS/$LDFLAGS after the target's own flags,
# so -O1 here overrides node-gyp's -O3 (better stacks, as ASan recommends).
# _GLIBCXX_ASSERTIONS adds bounds checks to std::vector/string operator[].
export CFLAGS="$SAN -O1 -g -fno-omit-frame-pointer"
export CXXFLAGS="$CFLAGS -D_GLIBCXX_ASSERTIONS"
export LDFLAGS="$SAN"
say "building the addon, the C module and the test fixtures with ASan+UBSan in $stage"
npm run --silent build:ts
npm run --silent build:native >build-native.log 2>&1 || { cat build-native.log >&2; exit 1; }
npm run --silent build:fixtures >build-fixtures.log 2>&1 || { cat build-fixtures.log >&2; exit 1; }

# Every binary the tests load must really be instrumented.
for so in build/Release/uv_drain.node build/Release/commit_module.so \
  test/fixtures/build/Release/uv_drain_fixture.node test/fixtures/build/Release/bad_abi_module.so; do
  if ! readelf -d "$so" | grep -q 'NEEDED.*libasan'; then
    say "$so is not linked with libasan"
    exit 1
  fi
done

# --- Run the suite -------------------------------------------------------------
# node itself is not instrumented, so the ASan runtime must be loaded before
# anything else: LD_PRELOAD (inherited by vitest's forks, child node processes
# and workers' threads alike). libubsan comes in as a dependency of the addons.
reports="$stage/sanitizer-reports"
mkdir -p "$reports"
# detect_leaks=0: V8 and Node do not free the isolate, its heap and their
#   process-lifetime singletons at exit, by design (the OS reclaims them); LSan
#   would report those at every exit, in code that is not ours. Leaks of our
#   own are covered by the churn tests (RSS and owner table stay flat).
# abort_on_error=1: a report ends the process with SIGABRT (not exit 1), so the
#   test that spawned it fails loudly; halt_on_error=1 is already the default
#   for ASan and -fno-sanitize-recover makes every UB check fatal.
# log_path: ASan reports go to files, also those of child processes whose
#   stderr a test swallows. UBSan cannot do the same here: libasan (first in
#   the process) interposes the report-path setter libubsan calls, so UBSan
#   always writes to stderr; vitest's output is captured and scanned for it
#   (a UBSan report in a child with swallowed stderr still aborts the child).
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_string_checks=1:log_path=$reports/asan${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export LD_PRELOAD="$LIBASAN${LD_PRELOAD:+:$LD_PRELOAD}"
# Two passes, both sanitized. ASan holds freed memory in a quarantine so that a
# use after free is caught, which also means a freed uv handle's address is
# not handed out again soon: test/address-reuse.test.ts needs exactly that
# reuse, so it runs on its own with the quarantine off (freed chunks are
# reused at once, like glibc's malloc does); everything else keeps it.
REUSE_TESTS=test/address-reuse.test.ts
out="$stage/vitest-output.log"
run_vitest() { node_modules/.bin/vitest run "$@" 2>&1 | tee -a "$out"; return "${PIPESTATUS[0]}"; }
status=0
if [ $# -gt 0 ]; then
  # `npm run test:asan -- test/some.test.ts ...`: only those files, one pass.
  say "the given test files: $* (LD_PRELOAD=$LIBASAN)"
  run_vitest "$@" || status=$?
else
  say "pass 1/2: the suite except $REUSE_TESTS (LD_PRELOAD=$LIBASAN)"
  run_vitest --exclude "$REUSE_TESTS" || status=$?
  say "pass 2/2: $REUSE_TESTS, ASan quarantine off"
  ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=0:thread_local_quarantine_size_kb=0" \
    run_vitest "$REUSE_TESTS" || status=$?
fi
unset LD_PRELOAD

found=0
for f in "$reports"/*; do
  [ -e "$f" ] || continue
  found=1
  say "sanitizer report $(basename "$f"):"
  cat "$f" >&2
done
if grep -qE 'runtime error:|(Address|UndefinedBehavior|Leak)Sanitizer' "$out"; then
  found=1
  say "sanitizer reports in the test output:"
  grep -E -A30 'runtime error:|(Address|UndefinedBehavior|Leak)Sanitizer' "$out" >&2
fi
if [ "$found" = 1 ]; then
  say "FAILED: sanitizer reports above"
  exit 1
fi
if [ "$status" != 0 ]; then
  say "FAILED: vitest exited with $status"
  exit "$status"
fi
say "passed, no sanitizer reports"
