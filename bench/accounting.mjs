// Accounting benchmark: ns per live handle of uv-drain's loop readers against
// the floor (a bare read-only walk of the loop's handle queue) and against
// Node's process.getActiveResourcesInfo().
//
//   npm run bench:accounting          (node --expose-gc bench/accounting.mjs)
//
// Handles are MessageChannel ports: one uv async handle each, no file
// descriptor. They are created inside withOwner('bench', ...) so that they
// are owned, and ref()'d so that getActiveResourcesInfo() reports every one of
// them (it skips unref'd handles, and a fresh port is unref'd until it
// listens). A second owner, 'few', has 10 handles among all the others: the
// "few among many" case.
//
// Method: for each N, every operation is warmed up and calibrated to a batch
// size (calls per timed sample, so that a sample lasts >= SAMPLE_TARGET_NS);
// then samples are taken round-robin: one sample of each operation per round,
// in an order shuffled every round (seeded), so that machine noise, and the
// after-effects of the allocating operations (snapshot(),
// getActiveResourcesInfo() evict the handles from the caches), hit every
// operation alike instead of always the one scheduled next. Reported: median
// and p90 of ns per call, and the same divided by the number of handles in the
// loop's queue (what every traversal walks).
//
// A second pass, "traversals only", interleaves just the four traversals that
// allocate (almost) nothing, so that the handles stay cache-warm: it isolates
// the per-handle cost of countsFor()/stats() against the floor.
//
// Environment: BENCH_BUDGET_S (seconds of sampling per N for the main pass,
// default 25; the traversals-only pass gets a fifth of it), BENCH_SIZES
// (comma-separated even N, default 10,1000,10000,100000).
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import os from 'node:os';

import { int, markdownTable, median, num, p90, prng, shuffle } from './lib/stats.mjs';

const require = createRequire(import.meta.url);
let uv, binding;
try {
  uv = require('../dist/index.js');
  ({ binding } = require('../dist/native.js'));
} catch (err) {
  console.error('Cannot load dist/ (build it first: npx tsc -p .):', err.message);
  process.exitCode = 1;
}

const SIZES = (process.env.BENCH_SIZES ?? '10,1000,10000,100000')
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isInteger(n) && n > 0 && n % 2 === 0)
  .sort((a, b) => a - b);
const BUDGET_NS = Number(process.env.BENCH_BUDGET_S ?? 25) * 1e9;
const SAMPLE_TARGET_NS = 100_000; // batch calls until a sample lasts ~100 us
const MIN_ROUNDS = 30;
const MAX_ROUNDS = 4000;
const WARMUP_ROUNDS = 10;
const FEW = 10; // handles of owner 'few'
const gc = globalThis.gc ?? (() => {});
const random = prng(0x5eed);

const now = process.hrtime.bigint;

// One hand-written loop per operation, so that each call site stays
// monomorphic. Each returns something derived from the result (a sink).
const OPS = [
  {
    key: 'countsFor',
    label: "countsFor('bench')",
    run(k) {
      let s = 0;
      for (let i = 0; i < k; i++) s += uv.countsFor('bench').total;
      return s;
    },
  },
  {
    key: 'countsFew',
    label: "countsFor('few') (10 among N)",
    run(k) {
      let s = 0;
      for (let i = 0; i < k; i++) s += uv.countsFor('few').total;
      return s;
    },
  },
  {
    key: 'stats',
    label: 'stats()',
    run(k) {
      let s = 0;
      for (let i = 0; i < k; i++) s += uv.stats().handles;
      return s;
    },
  },
  {
    key: 'snapshot',
    label: 'snapshot()',
    allocates: true,
    run(k) {
      let s = 0;
      for (let i = 0; i < k; i++) s += uv.snapshot().length;
      return s;
    },
  },
  {
    key: 'gari',
    label: 'process.getActiveResourcesInfo()',
    allocates: true,
    run(k) {
      let s = 0;
      for (let i = 0; i < k; i++) s += process.getActiveResourcesInfo().length;
      return s;
    },
  },
  {
    key: 'floor',
    label: 'bareTraversal() (floor)',
    run(k) {
      let s = 0;
      for (let i = 0; i < k; i++) s += binding.bareTraversal();
      return s;
    },
  },
];

let sink = 0;

function timeBatch(op, k) {
  const t0 = now();
  const s = op.run(k);
  const t1 = now();
  sink += s;
  return Number(t1 - t0) / k;
}

/**
 * Batch size for `op`: doubles k until one batch lasts SAMPLE_TARGET_NS, then
 * re-times that batch a few times and sizes k from the median (one slow call,
 * a GC or a JIT tier-up, must not decide the batch size).
 */
function calibrate(op) {
  let k = 1;
  while (k < 1 << 20 && timeBatch(op, k) * k < SAMPLE_TARGET_NS) k *= 2;
  const trials = [];
  for (let i = 0; i < 5; i++) trials.push(timeBatch(op, k));
  const perCall = median(trials);
  return { k: Math.max(1, Math.ceil(SAMPLE_TARGET_NS / perCall)), perCall };
}

/** Interleaved samples of `ops`; returns { rounds, ops: { key: { k, median, p90 } } }. */
function sample(ops, budgetNs) {
  const plan = ops.map((op) => ({ op, ...calibrate(op), samples: [] }));
  for (let r = 0; r < WARMUP_ROUNDS; r++) for (const p of plan) timeBatch(p.op, p.k);
  const roundNs = plan.reduce((t, p) => t + p.k * p.perCall, 0);
  const rounds = Math.max(MIN_ROUNDS, Math.min(MAX_ROUNDS, Math.floor(budgetNs / roundNs)));

  gc();
  const order = [...plan];
  for (let r = 0; r < rounds; r++) {
    shuffle(order, random);
    for (const p of order) p.samples.push(timeBatch(p.op, p.k));
  }

  const out = { rounds, ops: {} };
  for (const p of plan) {
    out.ops[p.op.key] = { label: p.op.label, k: p.k, median: median(p.samples), p90: p90(p.samples) };
  }
  return out;
}

const ports = [];

function makeChannels(owner, handles) {
  // Chunks keep each withOwner() call short.
  for (let made = 0; made < handles; ) {
    const chunk = Math.min(2000, handles - made);
    uv.withOwner(owner, () => {
      for (let i = 0; i < chunk; i += 2) {
        const { port1, port2 } = new MessageChannel();
        port1.ref();
        port2.ref();
        ports.push(port1, port2);
      }
    });
    made += chunk;
  }
}

function cpuModel() {
  try {
    const m = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1];
  } catch {}
  return os.cpus()[0]?.model ?? 'unknown';
}

function measure(n) {
  const loopHandles = binding.bareTraversal();
  const counts = uv.countsFor('bench');
  const few = uv.countsFor('few');
  const gari = process.getActiveResourcesInfo().length;
  if (counts.total !== n || few.total !== FEW) {
    console.log(
      `  warning: countsFor('bench').total = ${counts.total} (made ${n}), ` +
        `countsFor('few').total = ${few.total} (made ${FEW})`,
    );
  }
  const all = sample(OPS, BUDGET_NS);
  const warm = sample(
    OPS.filter((op) => !op.allocates),
    BUDGET_NS / 5,
  );
  return { n, loopHandles, gari, all, warm };
}

function main() {
  console.log('# uv-drain accounting benchmark\n');
  console.log(
    `node ${process.version} (libuv ${process.versions.uv}), ${os.platform()}-${os.arch()}, ` +
      `${os.availableParallelism?.() ?? os.cpus().length} CPUs (${cpuModel()}), ` +
      `${Math.round(os.totalmem() / 2 ** 30)} GiB RAM`,
  );
  console.log(
    `uv-drain capabilities: tagging=${uv.capabilities.tagging}, libuv ${uv.capabilities.uvVersion}; ` +
      `gc between sizes: ${globalThis.gc ? 'yes' : 'no (run with --expose-gc)'}`,
  );
  console.log(
    `sampling budget ${BUDGET_NS / 1e9} s per N (+${BUDGET_NS / 5e9} s traversals only), ` +
      `rounds ${MIN_ROUNDS}..${MAX_ROUNDS}, samples of >= ${SAMPLE_TARGET_NS / 1000} us (batched calls)\n`,
  );

  makeChannels('few', FEW);
  let made = 0;
  const results = [];
  for (const n of SIZES) {
    const t0 = now();
    makeChannels('bench', n - made);
    made = n;
    gc();
    const r = measure(n);
    results.push(r);
    console.log(
      `N=${int(n)}: ${int(r.loopHandles)} handles in the loop, getActiveResourcesInfo() lists ` +
        `${int(r.gari)}; ${r.all.rounds} + ${r.warm.rounds} rounds in ` +
        `${(Number(now() - t0) / 1e9).toFixed(1)} s`,
    );
  }

  // The table (main pass: all operations interleaved).
  const rows = [];
  for (const r of results) {
    for (const op of OPS) {
      const o = r.all.ops[op.key];
      rows.push([
        int(r.n),
        int(r.loopHandles),
        o.label,
        int(o.median),
        int(o.p90),
        num(o.median / r.loopHandles),
        num(o.p90 / r.loopHandles),
        `${r.all.rounds}×${o.k}`,
      ]);
    }
  }
  console.log(
    '\nAll operations interleaved:\n\n' +
      markdownTable(
        [
          'N (bench)',
          'loop handles',
          'operation',
          'median ns/call',
          'p90 ns/call',
          'median ns/handle',
          'p90 ns/handle',
          'samples×calls',
        ],
        rows,
        ['r', 'r', 'l'],
      ),
  );

  // Ratios of medians.
  const ratio = (pass, a, b) => pass.ops[a].median / pass.ops[b].median;
  console.log(
    '\nRatios (of medians; "warm" = traversals-only pass):\n\n' +
      markdownTable(
        [
          'N (bench)',
          'countsFor/floor',
          'countsFor/floor warm',
          "countsFor('few')/floor",
          "countsFor('few')/floor warm",
          'stats/floor warm',
          'warm ns/handle countsFor vs floor',
          'getActiveResourcesInfo/countsFor',
          'snapshot ms (median, p90)',
        ],
        results.map((r) => [
          int(r.n),
          num(ratio(r.all, 'countsFor', 'floor')),
          num(ratio(r.warm, 'countsFor', 'floor')),
          num(ratio(r.all, 'countsFew', 'floor')),
          num(ratio(r.warm, 'countsFew', 'floor')),
          num(ratio(r.warm, 'stats', 'floor')),
          `${num(r.warm.ops.countsFor.median / r.loopHandles)} vs ${num(r.warm.ops.floor.median / r.loopHandles)}`,
          num(ratio(r.all, 'gari', 'countsFor')),
          `${num(r.all.ops.snapshot.median / 1e6, 3)}, ${num(r.all.ops.snapshot.p90 / 1e6, 3)}`,
        ]),
      ),
  );

  // Marginal cost per extra handle between the two largest sizes (fixed per-call costs cancel).
  if (results.length >= 2) {
    const [a, b] = results.slice(-2);
    const dh = b.loopHandles - a.loopHandles;
    const slope = (pass, key) => (pass(b).ops[key].median - pass(a).ops[key].median) / dh;
    const all = (r) => r.all;
    console.log(
      `\nMarginal ns per extra handle, N=${int(a.n)} -> ${int(b.n)} (all interleaved): ` +
        OPS.map((op) => `${op.key} ${num(slope(all, op.key))}`).join(', ') +
        `; countsFor/floor ${num(slope(all, 'countsFor') / slope(all, 'floor'))}`,
    );
  }

  // Target verdicts, from the measured figures.
  const verdicts = [];
  const byN = new Map(results.map((r) => [r.n, r]));
  const floorParts = results.map((r) => {
    const x = ratio(r.all, 'countsFor', 'floor');
    const w = ratio(r.warm, 'countsFor', 'floor');
    const verdict = x <= 1.2 && w <= 1.2 ? 'met' : x <= 1.2 || w <= 1.2 ? 'MIXED' : 'MISSED';
    return `${verdict} at N=${int(r.n)} (${x.toFixed(3)}x interleaved, ${w.toFixed(3)}x warm)`;
  });
  verdicts.push(`countsFor within 1.2x of the floor: ${floorParts.join(', ')}`);
  const gariParts = [1000, 10000]
    .filter((n) => byN.has(n))
    .map((n) => {
      const x = ratio(byN.get(n).all, 'gari', 'countsFor');
      return `${x >= 2 ? 'met' : 'MISSED'} at N=${int(n)} (${x.toFixed(2)}x)`;
    });
  if (gariParts.length) {
    verdicts.push(`countsFor >= 2x faster than getActiveResourcesInfo: ${gariParts.join(', ')}`);
  }
  if (byN.has(10000)) {
    const o = byN.get(10000).all.ops.snapshot;
    verdicts.push(
      `snapshot of 10,000 handles under 5 ms: ${o.median < 5e6 ? 'met' : 'MISSED'} ` +
        `(median ${(o.median / 1e6).toFixed(3)} ms, p90 ${(o.p90 / 1e6).toFixed(3)} ms)`,
    );
  }
  console.log('\nTargets: ' + verdicts.join('; ') + '.');
  if (sink === 0.5) console.log(''); // keeps the sink observable

  for (const port of ports) port.close();
  ports.length = 0;
}

if (uv !== undefined) main();
