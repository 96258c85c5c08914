// Jobs as promise chains: write, read back, then settle a counter in the
// last continuation. deinit answers from that counter.
'use strict';
const fsp = require('node:fs/promises');
const path = require('node:path');

const state = { working: false, busy: 0, acked: [], file: '' };
let timer;
let n = 0;

exports.state = state;
exports.init = () => {
  state.file = path.join(process.env.UVD_SHAPES_DIR, 'promise-chain.txt');
  timer = setInterval(() => {
    const id = `job-${++n}`;
    state.busy++;
    fsp
      .writeFile(`${state.file}.${id}`, id)
      .then(() => fsp.readFile(`${state.file}.${id}`, 'utf8'))
      .then((text) => fsp.appendFile(state.file, text + '\n'))
      .then(() => fsp.rm(`${state.file}.${id}`))
      .then(() => {
        state.acked.push(id);
        state.working = true;
        state.busy--;
      });
  }, 2);
};
exports.cleanup = () => clearInterval(timer);
exports.deinit = () => (state.busy > 0 ? 'again' : 'done');
