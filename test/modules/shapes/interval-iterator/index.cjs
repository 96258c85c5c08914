// A periodic task written as a for await loop over timers/promises'
// setInterval; cleanup aborts the iterator.
'use strict';
const { setInterval: every } = require('node:timers/promises');

const state = { working: false, ticks: 0, ended: false };
const controller = new AbortController();

exports.state = state;
exports.init = () => {
  (async () => {
    try {
      for await (const _ of every(2, undefined, { signal: controller.signal })) {
        state.ticks++;
        state.working = state.ticks > 3;
      }
    } catch (error) {
      if (error.name !== 'AbortError') throw error;
    } finally {
      state.ended = true;
    }
  })();
};
exports.cleanup = () => controller.abort();
exports.deinit = () => (state.ended ? 'done' : 'again');
