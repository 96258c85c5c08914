// Child-process script: runs `count` workers (stress-worker.mjs), at most
// `concurrency` at a time, with uv-drain loaded on this main thread too.
// mode 'terminate': worker.terminate() as soon as a worker reports its
//   handles (all still open).
// mode 'terminate-early': worker.terminate() as soon as the worker is
//   online, wherever it is in loading uv-drain and making its handles.
// mode 'close': workers close everything and end by themselves.
// Prints one JSON summary line; an abort shows as a signal / non-zero exit.
//
// usage: node stress.mjs <mode> <count> <concurrency>
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

const WORKER = fileURLToPath(new URL('./stress-worker.mjs', import.meta.url));
const DIST = fileURLToPath(new URL('../../dist/index.js', import.meta.url));
const uv = createRequire(import.meta.url)(DIST);

const [mode, countArg, concurrencyArg] = process.argv.slice(2);
const count = Number(countArg);
const concurrency = Number(concurrencyArg);

const exitCodes = {};
const reports = {};
let reported = 0;

async function runOne() {
  const worker = new Worker(WORKER, { workerData: { mode } });
  const exited = once(worker, 'exit');
  if (mode === 'terminate-early') {
    await once(worker, 'online');
    await worker.terminate();
  } else {
    const [message] = await once(worker, 'message');
    reported++;
    const key = JSON.stringify(message);
    reports[key] = (reports[key] ?? 0) + 1;
    if (mode === 'terminate') await worker.terminate();
  }
  const [code] = await exited;
  exitCodes[code] = (exitCodes[code] ?? 0) + 1;
}

let next = 0;
async function lane() {
  while (next < count) {
    next++;
    await runOne();
  }
}
await Promise.all(Array.from({ length: concurrency }, lane));

console.log(JSON.stringify({ workers: next, reported, exitCodes, reports, mainByOwner: uv.countsByOwner() }));
