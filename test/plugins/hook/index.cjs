// A plugin registered in a fastify-like hook registry: its async onReady
// hook is awaited by the host; after an await (a promise continuation) it
// spawns a worker process with stdio pipes.
'use strict';
const { spawn } = require('node:child_process');
const { host } = require('../host/api.cjs');

let child;

exports.init = () => {
  host.addHook('onReady', async () => {
    await Promise.resolve();
    child = spawn(process.execPath, ['-e', 'process.stdin.resume()'], { stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise((resolve) => child.once('spawn', resolve));
  });
  host.onRelease('hook', () => {
    const exited = new Promise((resolve) => child.once('close', resolve));
    child.stdin.end();
    return exited;
  });
};
exports.deinit = () => 'done';
