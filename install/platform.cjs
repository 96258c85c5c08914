// Which platforms uv-drain runs on. Shared by the install script (./run.cjs)
// and the loader (dist/native.js); plain CommonJS because the install script
// runs before the TypeScript is compiled in a clone of the repository.
'use strict';

const fs = require('node:fs');

const ERROR_CODE = 'UVD_ERR_UNSUPPORTED_PLATFORM';

/**
 * The platform uv-drain acts on. UV_DRAIN_TEST_PLATFORM stands in for
 * process.platform so that the unsupported path can be tested on Linux.
 */
function platform() {
  return process.env.UV_DRAIN_TEST_PLATFORM || process.platform;
}

let seenLibc;
/** The C library this process runs on (Linux): 'glibc' or 'musl', from what is mapped into it. */
function libc() {
  if (process.env.LIBC) return process.env.LIBC; // node-gyp-build picks prebuilds by the same variable
  if (seenLibc === undefined) {
    let maps = '';
    try {
      maps = fs.readFileSync('/proc/self/maps', 'utf8');
    } catch {}
    seenLibc = /\/ld-musl-|\/libc\.musl-/.test(maps) ? 'musl' : 'glibc';
  }
  return seenLibc;
}

/**
 * Linux with glibc (x64 and arm64 have prebuilds; other glibc architectures
 * compile). Not musl: it lacks dladdr1(), which names the shared object a
 * callback lives in (docs/platforms.md).
 */
function isSupported() {
  return platform() === 'linux' && libc() === 'glibc';
}

/** "linux-x64 (glibc)", "darwin-arm64": what a message names. */
function target() {
  const p = platform();
  return p === 'linux' ? `${p}-${process.arch} (${libc()})` : `${p}-${process.arch}`;
}

function unsupportedMessage() {
  return `uv-drain runs on Linux with glibc only (its native part reads libuv's Linux layout and uses glibc's dladdr1); this is ${target()}. docs/platforms.md in the package says what is planned.`;
}

/** What to install so that the addon can be compiled. */
function toolchainHint() {
  return 'python3, make and g++ (Debian/Ubuntu: apt-get install python3 make g++; Fedora/RHEL: dnf install python3 make gcc-c++)';
}

module.exports = { ERROR_CODE, platform, isSupported, libc, target, unsupportedMessage, toolchainHint };
