// Churn and memory, part 2 (run by test/churn.test.ts in a child process):
//   node --expose-gc test/scripts/churn-workers.mjs [workers=1000] [concurrency=4]
//
// Runs `workers` worker threads (churn-worker.mjs), `concurrency` at a time,
// each loading uv-drain and the fixture on its own loop, making tagged
// handles, loading and unloading a module; 9 of 10 end by themselves, every
// 10th is terminated with its tagged handles open. uv-drain is loaded on this
// main thread too (with an owner of its own and a raw handle tagged).
// Prints one JSON line: RSS / heap / external of the main thread before (after
// a warm-up) and after the run (after gc), the peak RSS, the worker exit codes
// and reports, and the main thread's owner counts and native owner table.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

const require = createRequire(import.meta.url);
const uv = require(fileURLToPath(new URL('../../dist/index.js', import.meta.url)));
const { binding } = require(fileURLToPath(new URL('../../dist/native.js', import.meta.url)));
const fx = require(fileURLToPath(new URL('../fixtures/build/Release/uv_drain_fixture.node', import.meta.url)));
fx.setApi(uv.capi);
const WORKER = fileURLToPath(new URL('./churn-worker.mjs', import.meta.url));

if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc');
const COUNT = Number(process.argv[2] ?? 1000);
const CONCURRENCY = Number(process.argv[3] ?? 4);
const WARMUP = Math.min(40, COUNT);

const MB = 1024 * 1024;
function memory() {
  for (let i = 0; i < 4; i++) globalThis.gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
}
const toMB = (m) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, +(v / MB).toFixed(2)]));
/** No public API: binding.ownerName(index) is '' past the end of the table. */
function nativeOwnerTable() {
  let n = 1;
  while (binding.ownerName(n) !== '') n++;
  return n - 1;
}

// The main thread has an owner of its own, with a live tagged handle.
const mainHandle = fx.create('timer', 'churn-main');
fx.start(mainHandle);

const exitCodes = {};
const reports = {};
let started = 0;
let peakRss = 0;
async function runOne(index) {
  const mode = index % 10 === 9 ? 'terminate' : 'exit';
  const worker = new Worker(WORKER, { workerData: { mode } });
  // A worker that fails is reported, not fatal to this runner. Messages
  // posted before a worker ends are delivered before its 'exit'.
  let message = null;
  let reportedOne;
  const reportedPromise = new Promise((resolve) => (reportedOne = resolve));
  worker.on('message', (m) => {
    message = m;
    reportedOne();
  });
  worker.on('error', (error) => {
    message = { error: String(error) };
    reportedOne();
  });
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  if (mode === 'terminate') {
    await Promise.race([reportedPromise, exited]);
    await worker.terminate();
  }
  const code = await exited;
  const key = `${mode} ${JSON.stringify(message)}`;
  reports[key] = (reports[key] ?? 0) + 1;
  exitCodes[`${mode}:${code}`] = (exitCodes[`${mode}:${code}`] ?? 0) + 1;
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}
async function run(count) {
  const end = started + count;
  const lane = async () => {
    while (started < end) await runOne(started++);
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
}

const t0 = performance.now();
await run(WARMUP);
const before = memory();
const tableBefore = nativeOwnerTable();
await run(COUNT - WARMUP);
const after = memory();
const ms = performance.now() - t0;

const report = {
  workers: started,
  concurrency: CONCURRENCY,
  ms: Math.round(ms),
  exitCodes,
  reports,
  before: toMB(before),
  after: toMB(after),
  growthMB: toMB({ rss: after.rss - before.rss, heapUsed: after.heapUsed - before.heapUsed, external: after.external - before.external }),
  peakRssMB: +(peakRss / MB).toFixed(2),
  ownerTable: { before: tableBefore, after: nativeOwnerTable() },
  mainByOwner: uv.countsByOwner(),
};
fx.close(mainHandle);
console.log(JSON.stringify(report));
