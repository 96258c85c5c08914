// Supervises a helper process over stdio pipes; cleanup asks it to exit.
'use strict';
const { spawn } = require('node:child_process');

const state = { working: false, replies: 0, exited: false };
let child;

exports.state = state;
exports.init = () => {
  child = spawn(
    process.execPath,
    ['-e', "process.stdin.on('data', (d) => { if (String(d).includes('exit')) process.exit(0); process.stdout.write(d); })"],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  child.stdin.on('error', () => {}); // EPIPE once the helper is gone
  child.stdout.on('data', () => {
    state.replies++;
    state.working = true;
  });
  child.on('close', () => (state.exited = true));
  const ping = setInterval(() => (child.stdin.writable ? child.stdin.write('ping\n') : clearInterval(ping)), 5);
  child.on('exit', () => clearInterval(ping));
};
exports.cleanup = () => child.stdin.write('exit\n');
exports.deinit = () => (state.exited ? 'done' : 'again');
