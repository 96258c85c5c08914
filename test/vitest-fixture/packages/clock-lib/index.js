// A stand-in for a library with a process-wide singleton (like undici's
// coarse clock): the first call makes an unref'd interval that lives for the
// rest of the process. vitest-integration.test.ts installs it into this
// fixture's node_modules before running Vitest.
'use strict';

let clock = null;
let last = Date.now();

/** A coarse clock, updated by the library's one interval. */
exports.coarseNow = function coarseNow() {
  if (clock === null) {
    clock = setInterval(function tick() {
      last = Date.now();
    }, 1000);
    clock.unref();
  }
  return last;
};

/** A poller per instance: its interval is the instance's, closed by close(). */
exports.Poller = class Poller {
  constructor() {
    this.timer = setInterval(function poll() {}, 1000);
    this.timer.unref();
  }
  close() {
    clearInterval(this.timer);
  }
};
