// Offloads hashing to a worker thread; cleanup asks the worker to stop.
'use strict';
const { Worker } = require('node:worker_threads');

const state = { working: false, results: 0, exited: false, worker: undefined };
let worker;

exports.state = state;
exports.init = () => {
  worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     const crypto = require('node:crypto');
     parentPort.on('message', (m) => {
       if (m === 'stop') return parentPort.close();
       parentPort.postMessage(crypto.createHash('sha256').update(String(m)).digest('hex'));
     });`,
    { eval: true },
  );
  state.worker = worker;
  worker.on('message', () => {
    state.results++;
    state.working = state.results > 3;
    worker.postMessage(state.results);
  });
  worker.on('exit', () => (state.exited = true));
  worker.postMessage(0);
};
exports.cleanup = () => worker.postMessage('stop');
exports.deinit = () => (state.exited ? 'done' : 'again');
