// Worker thread of c-module-pacing.test.ts: loads the paced C module
// (workerData.so, a copy of test/fixtures paced_module.so; its knobs are in
// the process environment) into an UnloadCoordinator on the worker's own
// loop and unloads it with a budget of 0.5 ms. workerData.mode:
//   'unload'     posts { removed, waiting } once the unload settled, then
//                ends by itself (nothing of its own is left on the loop)
//   'terminate'  posts { handles } (the owner's handle types) once a
//                continuation is pending, and
//                waits to be terminated mid-way
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';

const require = createRequire(import.meta.url);
const uv = require(fileURLToPath(new URL('../../dist/index.js', import.meta.url)));

const { so, mode } = workerData;
const c = new uv.UnloadCoordinator({ budgetMs: 0.5 });
await c.load('worker-paced-c', { native: so, symbols: 'paced' });
if (mode === 'unload') {
  const report = await c.unload('worker-paced-c', { timeoutMs: 60_000 });
  parentPort.postMessage({ removed: report.removed, waiting: report.pacing.waiting });
  await c.quit();
} else {
  c.unload('worker-paced-c', { timeoutMs: 600_000 }).catch(() => {});
  // The continuation's handles exist only while one is pending.
  const poll = () => {
    const handles = uv.snapshot().filter((h) => h.owner === 'worker-paced-c').map((h) => h.type).sort();
    if (handles.includes('check')) parentPort.postMessage({ handles });
    else setImmediate(poll);
  };
  poll();
}
