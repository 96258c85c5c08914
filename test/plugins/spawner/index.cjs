// A plugin whose job (run by the host's scheduler) spawns a helper process
// and also tries a tool that is not installed (a spawn that fails).
'use strict';
const { spawn } = require('node:child_process');
const { host } = require('../host/api.cjs');

let helper;

exports.init = () => {
  host.addJob(() => {
    const missing = spawn('/nonexistent/uv-drain-tool', [], { stdio: 'ignore' });
    missing.on('error', () => {});
    helper = spawn(process.execPath, ['-e', 'process.stdin.resume()'], { stdio: ['pipe', 'ignore', 'ignore'] });
  });
  host.onRelease('spawner', () => {
    const exited = new Promise((resolve) => helper.once('close', resolve));
    helper.stdin.end();
    return exited;
  });
};
exports.deinit = () => 'done';
