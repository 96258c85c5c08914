// Run by test/drain.test.ts in a child process: the drain of an owner whose
// last handle's close is the last thing keeping the loop alive. A raw uv
// timer of the test fixture (tagged "last") holds the loop; whenDrained()
// waits on it; an unowned setTimeout closes it; its close callback records
// the drain watcher's iteration and what else holds the loop at that moment.
// Nothing else is alive: without the watcher holding the loop for that last
// close, the loop would end before anyone noticed the drain. Prints
// `UVD-DRAIN <json>` once whenDrained resolved, and must end by itself.
import { createRequire } from 'node:module';
import { capi, snapshot, whenDrained } from '../../dist/index.mjs';

const require = createRequire(import.meta.url);
const { binding } = require('../../dist/native.js');
const fx = require('../fixtures/build/Release/uv_drain_fixture.node');
fx.setApi(capi);

const OWNER = 'last';
const id = fx.create('timer', OWNER);
fx.start(id);

const out = { closeIteration: -1, holdingAtClose: null, firstIteration: binding.watchIteration() };
const drained = whenDrained(OWNER);
setTimeout(() => {
  fx.close(id, () => {
    out.closeIteration = binding.watchIteration();
    out.holdingAtClose = snapshot()
      .filter((h) => h.active && h.ref && !h.closing)
      .map((h) => ({ type: h.type, owner: h.owner, module: h.module }));
  });
}, 1);

const result = await drained;
out.result = result;
out.drainIteration = out.firstIteration + result.iterations;
process.stdout.write(`UVD-DRAIN ${JSON.stringify(out)}\n`);
