// The package's install script. In order:
// 1. on a platform uv-drain does not support, build nothing and succeed (the
//    package installs; require('uv-drain') throws UVD_ERR_UNSUPPORTED_PLATFORM);
// 2. if a binary that loads is there (a prebuild in prebuilds/, or an earlier
//    build), use it: nothing is compiled;
// 3. else compile binding.gyp with node-gyp, after checking that the tools it
//    needs are reachable: without them, fail with one message that names the
//    platform and what to install.
// npm_config_build_from_source=true (npm install --build-from-source) skips step 2.
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const platform = require('./platform.cjs');

const ROOT = path.join(__dirname, '..');

function main() {
  if (!platform.isSupported()) {
    console.warn(`${platform.unsupportedMessage()} Nothing was built; require('uv-drain') throws ${platform.ERROR_CODE}.`);
    return 0;
  }
  if (process.env.npm_config_build_from_source !== 'true' && binaryLoads()) return 0;
  const missing = missingTools();
  if (missing.length > 0) {
    console.error(
      `uv-drain: there is no prebuilt binary for ${platform.target()} and it cannot be compiled here: ` +
        `${missing.join(', ')} not found on PATH. Install ${platform.toolchainHint()}, then run npm rebuild uv-drain.`,
    );
    return 1;
  }
  const gyp = nodeGyp();
  const run = spawnSync(gyp[0], [...gyp.slice(1), 'rebuild'], { cwd: ROOT, stdio: 'inherit' });
  if (run.status === 0) return 0;
  console.error(`uv-drain: compiling the native addon for ${platform.target()} failed (node-gyp's output is above).`);
  return run.status || 1;
}

/** True if node-gyp-build finds a binary for this process and it loads. */
function binaryLoads() {
  let file;
  try {
    file = require('node-gyp-build').path(ROOT);
  } catch {
    return false; // none matches
  }
  try {
    require(file);
    return true;
  } catch (err) {
    console.warn(`uv-drain: ${path.relative(ROOT, file)} does not load here (${err.message.split('\n')[0]}); compiling instead.`);
    return false;
  }
}

/** The tools node-gyp needs that are not reachable. */
function missingTools() {
  const missing = [];
  if (!process.env.PYTHON && !process.env.npm_config_python && !onPath('python3') && !onPath('python')) missing.push('python3');
  if (!onPath('make')) missing.push('make');
  const cxx = process.env.CXX ? process.env.CXX.split(' ')[0] : null;
  if (cxx ? !onPath(cxx) : !['c++', 'g++', 'clang++'].some(onPath)) missing.push(cxx || 'a C++ compiler (g++)');
  return missing;
}

function onPath(name) {
  if (name.includes('/')) return isExecutable(name);
  return (process.env.PATH || '').split(path.delimiter).some((dir) => dir && isExecutable(path.join(dir, name)));
}

function isExecutable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** How to run node-gyp: the one npm bundles (npm tells scripts where), else one installed, else PATH's (pnpm puts its own there). */
function nodeGyp() {
  if (process.env.npm_config_node_gyp) return [process.execPath, process.env.npm_config_node_gyp];
  try {
    return [process.execPath, require.resolve('node-gyp/bin/node-gyp.js')];
  } catch {
    return ['node-gyp'];
  }
}

process.exitCode = main();
