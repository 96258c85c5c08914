// Run by test/drain.test.ts: timers made before uv-drain was loaded keep
// working once it has put its `_destroyed` accessor on Node's Timeout and
// Immediate prototypes (at its first owned timer of each kind), and one of
// them refreshed under an owner after its end is that owner's, its end told.
// Prints `UVD-EARLY <json>` lines; the process must end by itself.
'use strict';
const util = require('node:util');

const seen = [];
const report = (what) => process.stdout.write(`UVD-EARLY ${JSON.stringify(what)}\n`);

// Before uv-drain: a timeout that fires, one cleared later, an interval, an immediate.
const fires = setTimeout(() => seen.push('timeout fired'), 5);
const cleared = setTimeout(() => seen.push('cleared timeout fired'), 60_000);
let ticks = 0;
const interval = setInterval(() => {
  if (++ticks === 3) {
    clearInterval(interval);
    seen.push('interval cleared');
  }
}, 2);
setImmediate(() => seen.push('immediate ran'));
const ownFields = [fires, cleared, interval].every((t) => Object.hasOwn(t, '_destroyed'));

const { countsFor, whenDrained, withOwner } = require('../../dist/index.js');
const { binding } = require('../../dist/native.js');

// Owned timers of both kinds put the accessor on the prototypes.
withOwner('later', () => {
  clearTimeout(setTimeout(() => {}, 60_000));
  clearImmediate(setImmediate(() => {}));
});
const late = setTimeout(() => {}, 60_000);

async function main() {
  await new Promise((resolve) => setTimeout(resolve, 50));
  clearTimeout(cleared);
  report({
    seen,
    ownFields,
    // Made before: an own field, as Node made it; after: the prototype's accessor.
    early: { own: Object.hasOwn(cleared, '_destroyed'), destroyed: cleared._destroyed },
    late: { own: Object.hasOwn(late, '_destroyed'), destroyed: late._destroyed },
    inspectEarly: util.inspect(cleared).includes('_destroyed: true'),
    inspectLate: /\[?Symbol\(uv-drain:_destroyed\)\]?: false/.test(util.inspect(late)),
  });
  clearTimeout(late);

  // The timeout that fired before, refreshed under an owner: a new birth of that owner's.
  withOwner('early', () => fires.refresh());
  const counted = countsFor('early').timers;
  const drained = whenDrained('early');
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
  const before = binding.watchIteration();
  clearTimeout(fires);
  const result = await drained;
  report({ counted, after: countsFor('early').timers, iterations: binding.watchIteration() - before, owner: result.owner });
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
