// Run by test/drain.test.ts in a child process: an owner's only timer,
// referenced when the drain watch starts and unref'd after, must not be kept
// alive by the watcher: the process ends by itself (exit code 0) before the
// timer is due, the drain still pending, printing `UVD-EXIT <json>` from 'exit'.
'use strict';
const { countsFor, whenDrained, withOwner } = require('../../dist/index.js');

const OWNER = 'unref-after-watch';
let fired = false;
const timer = withOwner(OWNER, () => setTimeout(() => (fired = true), 60_000));
const immediate = withOwner(OWNER, () => setImmediate(() => {}));
let settled = 'pending';
whenDrained(OWNER).then(
  () => (settled = 'resolved'),
  () => (settled = 'rejected'),
);
// A few iterations with the watch on (the immediate ran), then the unref.
let turns = 0;
setImmediate(function again() {
  if (++turns < 3) setImmediate(again);
  else timer.unref();
});
process.on('exit', (code) => {
  process.stdout.write(`UVD-EXIT ${JSON.stringify({ code, settled, fired, immediate: immediate._destroyed, counts: countsFor(OWNER) })}\n`);
});
