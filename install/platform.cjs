// Which platforms uv-drain runs on. Shared by the install script (./run.cjs)
// and the loader (dist/native.js); plain CommonJS because the install script
// runs before the TypeScript is compiled in a clone of the repository.
'use strict';

/** Platforms whose libuv layout the native code knows (docs/platforms.md). */
const SUPPORTED = ['linux'];

const ERROR_CODE = 'UVD_ERR_UNSUPPORTED_PLATFORM';

/**
 * The platform uv-drain acts on. UV_DRAIN_TEST_PLATFORM stands in for
 * process.platform so that the unsupported path can be tested on Linux.
 */
function platform() {
  return process.env.UV_DRAIN_TEST_PLATFORM || process.platform;
}

function isSupported() {
  return SUPPORTED.includes(platform());
}

/** The C library a Linux build links against: 'glibc' or 'musl'. */
function libc() {
  if (process.env.LIBC) return process.env.LIBC; // node-gyp-build reads the same variable
  const report = process.report && process.report.getReport();
  return report && report.header && report.header.glibcVersionRuntime ? 'glibc' : 'musl';
}

/** "linux-x64 (glibc)", "darwin-arm64": what a message names. */
function target() {
  const p = platform();
  return p === 'linux' ? `${p}-${process.arch} (${libc()})` : `${p}-${process.arch}`;
}

function unsupportedMessage() {
  return `uv-drain runs on Linux only (its native part reads libuv's Linux layout); this is ${target()}. docs/platforms.md in the package says what is planned.`;
}

/** What to install so that the addon can be compiled, for the message of a failed install or load. */
function toolchainHint() {
  return libc() === 'musl'
    ? 'python3, make and g++ (Alpine: apk add python3 make g++)'
    : 'python3, make and g++ (Debian/Ubuntu: apt-get install python3 make g++; Fedora/RHEL: dnf install python3 make gcc-c++)';
}

module.exports = { ERROR_CODE, platform, isSupported, libc, target, unsupportedMessage, toolchainHint };
