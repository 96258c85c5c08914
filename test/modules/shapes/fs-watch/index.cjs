// Watches a spool directory and ingests what lands there; cleanup closes
// the watcher.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const state = { working: false, seen: 0, dir: '' };
let watcher;
let writer;
let n = 0;

exports.state = state;
exports.init = () => {
  state.dir = fs.mkdtempSync(path.join(process.env.UVD_SHAPES_DIR, 'spool-'));
  watcher = fs.watch(state.dir, () => {
    state.seen++;
    state.working = state.seen > 3;
  });
  writer = setInterval(() => fs.writeFile(path.join(state.dir, `f${++n}`), 'x', () => {}), 2);
};
exports.cleanup = () => {
  clearInterval(writer);
  watcher.close();
};
exports.deinit = () => 'done';
