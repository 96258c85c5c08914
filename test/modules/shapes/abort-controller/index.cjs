// A poller driven by an AbortController: each round sleeps with the signal
// and reads a file; cleanup aborts, and the loop ends on the AbortError.
'use strict';
const fsp = require('node:fs/promises');
const { setTimeout: sleep } = require('node:timers/promises');

const state = { working: false, rounds: 0, stopped: false };
const controller = new AbortController();

exports.state = state;
exports.init = () => {
  (async () => {
    try {
      for (;;) {
        await sleep(3, undefined, { signal: controller.signal });
        await fsp.readFile(__filename, { signal: controller.signal });
        state.rounds++;
        state.working = state.rounds > 3;
      }
    } catch (error) {
      if (error.name !== 'AbortError') throw error;
    } finally {
      state.stopped = true;
    }
  })();
};
exports.cleanup = () => controller.abort();
exports.deinit = () => (state.stopped ? 'done' : 'again');
