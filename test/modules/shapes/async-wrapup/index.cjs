// Wrap-up as an async function: wait a little, write a summary, then say
// done after one more turn of the microtask queue.
'use strict';
const fsp = require('node:fs/promises');
const path = require('node:path');
const { setTimeout: sleep } = require('node:timers/promises');

const state = { working: false, done: false };
let timer;

exports.state = state;
exports.init = () => {
  timer = setInterval(() => (state.working = true), 1);
};
exports.cleanup = () => {
  clearInterval(timer);
  (async () => {
    await sleep(15);
    await fsp.appendFile(path.join(process.env.UVD_SHAPES_DIR, 'async-wrapup.txt'), 'summary\n');
    await null;
    state.done = true;
  })();
};
exports.deinit = () => (state.done ? 'done' : 'again');
