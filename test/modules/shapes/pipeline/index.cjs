// Flushes its buffered records to a file with stream.pipeline from an async
// generator when asked to clean up.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { Readable } = require('node:stream');
const { pipeline } = require('node:stream/promises');

const state = { working: false, flushed: false, records: [] };
let timer;

exports.state = state;
exports.init = () => {
  timer = setInterval(() => {
    state.records.push(`record-${state.records.length}`);
    state.working = state.records.length > 20;
  }, 1);
};
exports.cleanup = () => {
  clearInterval(timer);
  async function* lines() {
    for (const r of state.records) {
      yield r + '\n';
      await null;
    }
  }
  pipeline(Readable.from(lines()), fs.createWriteStream(path.join(process.env.UVD_SHAPES_DIR, 'pipeline.txt'))).then(
    () => (state.flushed = true),
  );
};
exports.deinit = () => (state.flushed ? 'done' : 'again');
