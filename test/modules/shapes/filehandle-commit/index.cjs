// A journal: every commit is appended and fsync'ed through one FileHandle,
// acknowledged in the last .then. deinit waits for the commits in flight,
// then closes the file.
'use strict';
const fsp = require('node:fs/promises');
const path = require('node:path');

const state = { working: false, acked: [], file: '' };
let handle;
let timer;
let chain = Promise.resolve();
let inflight = 0;
let closed = false;
let n = 0;

exports.state = state;
exports.init = async () => {
  state.file = path.join(process.env.UVD_SHAPES_DIR, 'filehandle-commit.log');
  handle = await fsp.open(state.file, 'a');
  timer = setInterval(() => {
    const id = `commit-${++n}`;
    inflight++;
    chain = chain
      .then(() => handle.appendFile(id + '\n'))
      .then(() => handle.datasync())
      .then(() => {
        state.acked.push(id);
        state.working = true;
        inflight--;
      });
  }, 1);
};
exports.cleanup = () => clearInterval(timer);
exports.deinit = () => {
  if (inflight > 0) return 'again';
  if (!closed) {
    closed = true;
    handle.close();
    return 'again';
  }
  return 'done';
};
