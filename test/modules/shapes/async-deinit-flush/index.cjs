// Buffers events in memory; deinit is async and flushes the buffer to disk
// before it answers.
'use strict';
const fsp = require('node:fs/promises');
const path = require('node:path');

const state = { working: false, buffered: [], flushedCount: 0 };
let timer;

exports.state = state;
exports.init = () => {
  timer = setInterval(() => {
    state.buffered.push(`event-${state.buffered.length}`);
    state.working = state.buffered.length > 20;
  }, 1);
};
exports.cleanup = () => clearInterval(timer);
exports.deinit = async () => {
  const batch = state.buffered.splice(0);
  if (batch.length > 0) {
    await fsp.appendFile(path.join(process.env.UVD_SHAPES_DIR, 'async-deinit-flush.txt'), batch.join('\n') + '\n');
    state.flushedCount += batch.length;
  }
  return 'done';
};
