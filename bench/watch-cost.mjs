// Drain watching cost (issue 14): what a pending drain of one small owner
// costs the event loop when the loop holds many unrelated handles, and what
// countsFor() of that owner costs against the full-walk floor.
//
//   npm run bench:watch               (node --expose-gc bench/watch-cost.mjs)
//
// Handles: for each N, N MessageChannel ports of nobody (made outside any
// owner; one uv_async handle each, no file descriptor), ref()'d like those of
// bench/accounting.mjs (a walk visits every handle of the loop's queue, ref'd
// or not). Owner 'few' holds 10 ports, made inside withOwner('few', ...), and
// keeps them: its drain stays pending. Owner tracking stays off (no init hook
// runs in the spin), as after withOwner() returns.
//
// Method, in one process, for each N (ascending; the ports of the previous N
// are kept and more are made):
//   - loop throughput: a setImmediate spin (one callback per loop iteration)
//     counted over windows of BENCH_WINDOW_MS, in pairs: one window with
//     whenDrained('few', { signal }) pending, one with nothing watched, the
//     order alternating from pair to pair (after 2 warm-up pairs, dropped).
//     The drain is started before the window and aborted after it (the
//     documented way: the AbortSignal; the promise rejects with its reason),
//     so its start (one countsFor()) and its end are outside the timed part.
//     A minor GC (gc({ type: 'minor' })) runs before every window: with many
//     ports a scavenge takes tens to hundreds of ms, and one landing in some
//     windows and not others would be noise larger than the effect.
//     Reported: the median of iterations/s over the windows of each kind,
//     their ratio, and the per-iteration cost 1/watched - 1/unwatched (from
//     the medians).
//   - countsFor('few') against binding.bareTraversal() (a bare read-only walk
//     of the loop's handle queue, the floor of every full walk): batches
//     calibrated to >= 1 ms, taken in alternating order, medians of ns/call.
//
// Environment: BENCH_SIZES (comma-separated even N, default
// 1000,10000,100000,1000000), BENCH_WINDOWS (pairs of windows per N, default
// 30), BENCH_WINDOW_MS (default 200), BENCH_COUNTS_S (seconds of countsFor /
// floor sampling per N, default 3). Writes bench/results/watch-cost.json.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { machineLines, startRun } from './lib/machine.mjs';
import { int, markdownTable, median, num, quantile } from './lib/stats.mjs';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));

const envNumber = (name, fallback) => {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`${name} must be a positive number, got ${v}`);
    process.exit(2);
  }
  return n;
};

const SIZES = (process.env.BENCH_SIZES ?? '1000,10000,100000,1000000')
  .split(',')
  .map((s) => Number(s.trim().replace(/_/g, '')))
  .filter((n) => Number.isInteger(n) && n > 0 && n % 2 === 0)
  .sort((a, b) => a - b);
const PAIRS = Math.round(envNumber('BENCH_WINDOWS', 30));
const WARMUP_PAIRS = 2;
const WINDOW_MS = envNumber('BENCH_WINDOW_MS', 200);
const COUNTS_NS = envNumber('BENCH_COUNTS_S', 3) * 1e9;
const COUNTS_MIN_ROUNDS = 15;
const COUNTS_SAMPLE_NS = 1e6;
const FEW = 10;
const OWNER = 'few';

if (globalThis.gc === undefined) {
  console.error('run with --expose-gc (npm run bench:watch)');
  process.exit(2);
}
const gc = globalThis.gc;
const minorGc = () => gc({ type: 'minor' });

let uv, binding;
try {
  uv = require('../dist/index.js');
  ({ binding } = require('../dist/native.js'));
} catch (err) {
  console.error('Cannot load dist/ (build it first: npm run build:ts):', err.message);
  process.exit(1);
}

const run = startRun('npm run bench:watch (node --expose-gc bench/watch-cost.mjs)');
const nowNs = process.hrtime.bigint;
const ports = [];

/** Makes `handles` ports (handles/2 channels), as `owner` or as nobody; returns seconds. */
function makePorts(handles, owner) {
  const t0 = nowNs();
  const make = (count) => {
    for (let i = 0; i < count; i += 2) {
      const { port1, port2 } = new MessageChannel();
      port1.ref();
      port2.ref();
      ports.push(port1, port2);
    }
  };
  if (owner === undefined) make(handles);
  else uv.withOwner(owner, () => make(handles));
  return Number(nowNs() - t0) / 1e9;
}

const cpuMs = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e3;
};

/** One loop iteration later. */
const nextIteration = () => new Promise((resolve) => setImmediate(resolve));

/**
 * A setImmediate spin for `ms`: iterations per second between the first
 * callback and the first one at or after `ms` (whole iterations only).
 */
function spin(ms) {
  return new Promise((resolve) => {
    let t0 = 0;
    let cpu0 = 0;
    let n = 0;
    const step = () => {
      const t = performance.now();
      if (n === 0) {
        t0 = t;
        cpu0 = cpuMs();
      } else if (t - t0 >= ms) {
        // CPU share: process CPU time over wall time (on a shared machine,
        // what the scheduler left this process).
        resolve({ iterations: n, ms: t - t0, perS: (n * 1000) / (t - t0), cpuShare: (cpuMs() - cpu0) / (t - t0) });
        return;
      }
      n++;
      setImmediate(step);
    };
    setImmediate(step);
  });
}

const ABORTED = new Error('window over');

/** One window; `watched`: with a drain of 'few' pending throughout. */
async function timedWindow(watched) {
  let controller;
  let drain;
  let outcome = 'none';
  if (watched) {
    controller = new AbortController();
    drain = uv.whenDrained(OWNER, { signal: controller.signal }).then(
      () => {
        outcome = 'drained';
      },
      (error) => {
        outcome = error === ABORTED ? 'aborted' : `rejected: ${error?.message ?? error}`;
      },
    );
  }
  minorGc();
  const r = await spin(WINDOW_MS);
  if (watched) {
    if (outcome !== 'none') throw new Error(`the drain of '${OWNER}' settled during the window (${outcome})`);
    controller.abort(ABORTED);
    await drain;
    if (outcome !== 'aborted') throw new Error(`the drain of '${OWNER}' did not end by its signal (${outcome})`);
  }
  return r;
}

async function throughput() {
  const unwatched = [];
  const watched = [];
  const pairRatios = [];
  const cpuShare = { unwatched: [], watched: [] };
  for (let p = 0; p < WARMUP_PAIRS + PAIRS; p++) {
    const order = p % 2 === 0 ? [false, true] : [true, false];
    const got = {};
    for (const w of order) got[w] = await timedWindow(w);
    if (p < WARMUP_PAIRS) continue;
    unwatched.push(got[false].perS);
    watched.push(got[true].perS);
    pairRatios.push(got[true].perS / got[false].perS);
    cpuShare.unwatched.push(got[false].cpuShare);
    cpuShare.watched.push(got[true].cpuShare);
  }
  return { unwatched, watched, pairRatios, cpuShare };
}

let sink = 0;
const OPS = {
  countsFor() {
    return uv.countsFor(OWNER).total;
  },
  floor() {
    return binding.bareTraversal();
  },
};

function timeBatch(key, k) {
  const op = OPS[key];
  const t0 = nowNs();
  let s = 0;
  for (let i = 0; i < k; i++) s += op();
  const t1 = nowNs();
  sink += s;
  return Number(t1 - t0) / k;
}

function calibrate(key) {
  let k = 1;
  while (k < 1 << 22 && timeBatch(key, k) * k < COUNTS_SAMPLE_NS) k *= 2;
  const perCall = median([0, 1, 2].map(() => timeBatch(key, k)));
  return { k: Math.max(1, Math.ceil(COUNTS_SAMPLE_NS / perCall)), perCall };
}

function countsVsFloor() {
  const plan = Object.keys(OPS).map((key) => ({ key, ...calibrate(key), samples: [] }));
  for (const p of plan) timeBatch(p.key, p.k); // warm-up
  const roundNs = plan.reduce((t, p) => t + p.k * p.perCall, 0);
  const rounds = Math.max(COUNTS_MIN_ROUNDS, Math.floor(COUNTS_NS / roundNs));
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? plan : [...plan].reverse();
    for (const p of order) p.samples.push(timeBatch(p.key, p.k));
  }
  const out = { rounds };
  for (const p of plan) out[p.key] = { k: p.k, median: median(p.samples), p90: quantile(p.samples, 0.9) };
  return out;
}

/** A ratio as a percentage, with 3 significant digits below 1 %. */
function pct(ratio, unit = ' %', decimals = 1) {
  const v = 100 * ratio;
  if (!Number.isFinite(v)) return 'n/a';
  return (v >= 1 || v === 0 ? v.toFixed(decimals) : v.toPrecision(3)) + unit;
}

const rssMiB = () => process.memoryUsage().rss / 2 ** 20;

async function measure(n, makeS) {
  gc();
  await nextIteration();
  const loopHandles = binding.bareTraversal();
  const few = uv.countsFor(OWNER);
  if (few.total !== FEW) throw new Error(`countsFor('${OWNER}').total is ${few.total}, expected ${FEW}`);
  const t0 = nowNs();
  const tp = await throughput();
  const tpS = Number(nowNs() - t0) / 1e9;
  const cf = countsVsFloor();
  const mu = median(tp.unwatched);
  const mw = median(tp.watched);
  return {
    n,
    loopHandles,
    makeS,
    rssMiB: rssMiB(),
    throughputS: tpS,
    pairs: tp.unwatched.length,
    unwatchedPerS: mu,
    watchedPerS: mw,
    ratio: mw / mu,
    pairRatio: { p10: quantile(tp.pairRatios, 0.1), median: median(tp.pairRatios), p90: quantile(tp.pairRatios, 0.9) },
    perIterationUs: (1 / mw - 1 / mu) * 1e6,
    cpuShare: { unwatched: median(tp.cpuShare.unwatched), watched: median(tp.cpuShare.watched) },
    countsForNs: cf.countsFor.median,
    floorNs: cf.floor.median,
    floorOverCountsFor: cf.floor.median / cf.countsFor.median,
    countsRounds: cf.rounds,
    samples: { unwatched: tp.unwatched, watched: tp.watched, cpuShare: tp.cpuShare },
  };
}

async function main() {
  console.log('# uv-drain: drain watching cost\n');
  console.log(
    `ports of nobody: MessageChannel ports (one uv_async handle each), ref()'d; owner '${OWNER}': ${FEW} ports; ` +
      `owner tracking off; ${PAIRS} pairs of ${WINDOW_MS} ms windows per N (+${WARMUP_PAIRS} warm-up pairs), ` +
      `order alternating, minor GC before each window; countsFor/floor: ~${COUNTS_NS / 1e9} s per N\n`,
  );
  makePorts(FEW, OWNER);
  let made = 0;
  const results = [];
  let stopped = null;
  for (const n of SIZES) {
    let makeS;
    try {
      makeS = makePorts(n - made, undefined);
    } catch (error) {
      stopped = `making ${int(n)} ports failed after ${int(ports.length - FEW)}: ${error.message}`;
      break;
    }
    made = n;
    const r = await measure(n, makeS);
    results.push(r);
    console.log(
      `N=${int(n)}: ${int(n - (results.at(-2)?.n ?? 0))} ports made in ${num(makeS, 1)} s, RSS ${int(r.rssMiB)} MiB, ` +
        `${int(r.loopHandles)} handles in the loop; ${r.pairs} pairs in ${num(r.throughputS, 1)} s; ` +
        `unwatched ${int(r.unwatchedPerS)} it/s, watched ${int(r.watchedPerS)} it/s (${pct(r.ratio)}); ` +
        `countsFor ${int(r.countsForNs)} ns, floor ${int(r.floorNs)} ns`,
    );
  }
  const t0 = nowNs();
  for (const port of ports) port.close();
  await nextIteration();
  await nextIteration();
  const closeS = Number(nowNs() - t0) / 1e9;
  ports.length = 0;

  const m = run.finish();
  const table = markdownTable(
    [
      'N (ports of nobody)',
      'loop handles',
      'ports added (since the last N) made in, s',
      'unwatched, iterations/s',
      'watched, iterations/s',
      'watched / unwatched',
      'per-pair ratio p10–p90',
      'per-iteration cost, µs',
      'CPU share, unwatched / watched',
      "countsFor('few'), ns/call",
      'floor (bareTraversal), ns/call',
      'floor / countsFor',
    ],
    results.map((r) => [
      int(r.n),
      int(r.loopHandles),
      num(r.makeS, 1),
      int(r.unwatchedPerS),
      int(r.watchedPerS),
      pct(r.ratio),
      `${pct(r.pairRatio.p10, '')}–${pct(r.pairRatio.p90)}`,
      r.perIterationUs >= 100 ? int(r.perIterationUs) : num(r.perIterationUs, 2),
      `${pct(r.cpuShare.unwatched, '', 0)} / ${pct(r.cpuShare.watched, ' %', 0)}`,
      int(r.countsForNs),
      int(r.floorNs),
      num(r.floorOverCountsFor, 2),
    ]),
  );
  const verdicts = results.map(
    (r) =>
      `N=${int(r.n)}: throughput ratio >= 0.9 ${r.ratio >= 0.9 ? 'met' : 'MISSED'} (${pct(r.ratio)}); ` +
      `countsFor >= 100x faster than the floor ${r.floorOverCountsFor >= 100 ? 'met' : 'MISSED'} (${num(r.floorOverCountsFor, 2)}x)`,
  );
  console.log('\n' + machineLines(m).join('\n') + '\n');
  console.log(table + '\n');
  console.log(`Closing the ports took ${num(closeS, 1)} s. Peak RSS ${int(Math.max(...results.map((r) => r.rssMiB)))} MiB.`);
  if (stopped) console.log(`Stopped early: ${stopped}`);
  console.log('\nTargets of issue 14 (' + (uv.capabilities?.uvVersion ?? process.versions.uv) + '):\n' + verdicts.map((v) => `- ${v}`).join('\n'));

  const dir = path.join(here, 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'watch-cost.json');
  fs.writeFileSync(
    file,
    JSON.stringify(
      {
        benchmark: 'watch-cost',
        machine: m,
        parameters: { sizes: SIZES, pairs: PAIRS, warmupPairs: WARMUP_PAIRS, windowMs: WINDOW_MS, countsSeconds: COUNTS_NS / 1e9, few: FEW, portsRefd: true },
        closeS,
        stopped,
        results,
        table,
      },
      null,
      1,
    ) + '\n',
  );
  console.log(`\nwrote ${path.relative(path.resolve(here, '..'), file)}`);
  if (sink === 0.5) console.log('');
}

await main();
