// Leak check benchmark (npm run bench:leaks):
//
// 1. Per-test cost of leakCheck(): begin() + end() around an empty test body
//    with N = 10 / 1 000 / 10 000 live handles already on the loop (the
//    common case: nothing leaked), tracking off and on; and end() when the
//    body left one handle closing (end() then waits for its close callback).
// 2. Creation-tracking overhead on micro-benchmarks, one child process per
//    sample, the hooks side by side in one run: no hook, uv-drain's tracking
//    (a leakCheck({ tracking: true }) begun and kept open, as the Vitest
//    integration does), and why-is-node-running's hook (imported, which
//    enables it). Workloads: promise-heavy (async functions awaiting
//    promises), timeout-heavy (both hooks capture a stack per Timeout) and
//    immediate-heavy (why-is-node-running captures a stack per immediate,
//    uv-drain does not).
//
// Method: part 1 interleaves the operations round by round in a shuffled
// order and reports median and p90 of wall time per check; part 2 runs the
// three configurations in rotation, ROUNDS child processes each, every child
// warming up and then timing REPS repetitions of the workload; the figure is
// the median over all repetitions, and the ratio is against no hook.
//
// Environment: BENCH_SIZES (default 10,1000,10000), BENCH_CHECKS (checks per
// operation and N, default 2000), BENCH_ROUNDS (child processes per
// configuration, default 5). Writes bench/results/leak-check.json.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel } from 'node:worker_threads';

import { compareInChildren } from './lib/children.mjs';
import { machineLines, startRun } from './lib/machine.mjs';
import { promiseHeavy, timeoutHeavy } from './lib/workloads.mjs';
import { int, markdownTable, median, num, p90, prng, shuffle } from './lib/stats.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const uv = require('../dist/index.js');

// ------------------------------------------------- child: micro-benchmark ----

async function runChild(config, workload) {
  let check;
  if (config === 'uv-drain') {
    check = uv.leakCheck({ tracking: true });
    check.begin();
  } else if (config === 'why-is-node-running') {
    await import('why-is-node-running'); // enables its async_hooks hook
  }
  const work = WORKLOADS[workload];
  for (let i = 0; i < 3; i++) await work.run(); // warm up
  const ns = [];
  for (let i = 0; i < Number(process.env.BENCH_REPS ?? 15); i++) {
    const t0 = process.hrtime.bigint();
    await work.run();
    ns.push(Number(process.hrtime.bigint() - t0) / work.ops);
  }
  check?.cancel();
  process.stdout.write(JSON.stringify({ ns }) + '\n');
}

const WORKLOADS = {
  promises: promiseHeavy,
  timeouts: timeoutHeavy,
  immediates: {
    label: 'immediate-heavy: 20 000 setImmediate in a chain',
    ops: 20_000,
    run() {
      return new Promise((resolve) => {
        let left = 20_000;
        const next = () => (--left === 0 ? resolve() : setImmediate(next));
        setImmediate(next);
      });
    },
  },
};

if (process.argv[2] === '--child') {
  await runChild(process.argv[3], process.argv[4]);
  process.exit(0);
}


// --------------------------------------------- parent: per-test check cost ----

const SIZES = (process.env.BENCH_SIZES ?? '10,1000,10000').split(',').map(Number);
const CHECKS = Number(process.env.BENCH_CHECKS ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const random = prng(0x1ea4);

const checkOff = uv.leakCheck();
const checkOn = uv.leakCheck({ tracking: true });
const OPS = [
  {
    key: 'off',
    label: 'empty test, tracking off',
    async run() {
      checkOff.begin();
      return checkOff.end();
    },
  },
  {
    key: 'on',
    label: 'empty test, tracking on',
    async run() {
      checkOn.begin();
      return checkOn.end();
    },
  },
  {
    key: 'closing',
    label: 'test left 1 handle closing, tracking off',
    async run() {
      checkOff.begin();
      const { port1 } = new MessageChannel();
      port1.close();
      return checkOff.end();
    },
  },
];

async function checkCost() {
  // Tracking stays on for the whole part (as under uv-drain/vitest): the
  // 'on' checks then measure the check, not turning the hook on and off.
  const keepStacks = uv.leakCheck({ tracking: true });
  keepStacks.begin();
  const ports = [];
  const rows = [];
  const results = [];
  for (const n of SIZES) {
    while (ports.length < n) {
      const { port1, port2 } = new MessageChannel();
      ports.push(port1, port2);
    }
    const handles = uv.stats().handles;
    for (const op of OPS) for (let i = 0; i < 50; i++) await op.run(); // warm up
    globalThis.gc?.();
    const samples = Object.fromEntries(OPS.map((op) => [op.key, []]));
    let bad = 0;
    for (let round = 0; round < CHECKS; round++) {
      for (const op of shuffle([...OPS], random)) {
        const t0 = process.hrtime.bigint();
        const report = await op.run();
        samples[op.key].push(Number(process.hrtime.bigint() - t0) / 1e3);
        if (!report.ok) bad++;
      }
    }
    for (const op of OPS) {
      const us = samples[op.key];
      results.push({ n, handles, op: op.key, medianUs: median(us), p90Us: p90(us), checks: us.length });
      rows.push([int(n), int(handles), op.label, num(median(us)), num(p90(us)), int(us.length)]);
    }
    if (bad > 0) throw new Error(`${bad} checks reported a leak: the benchmark itself leaks`);
    console.error(`  N = ${n}: done`);
  }
  for (const port of ports) port.close();
  keepStacks.cancel();
  const table = markdownTable(
    ['N ports', 'loop handles', 'check', 'median µs', 'p90 µs', 'checks'],
    rows,
    ['r', 'r', 'l', 'r', 'r', 'r'],
  );
  return { table, results };
}

// ------------------------------------------------- parent: hook overhead ----

const CONFIGS = ['none', 'uv-drain', 'why-is-node-running'];

function overhead() {
  return compareInChildren({
    script: fileURLToPath(import.meta.url),
    configs: CONFIGS,
    workloads: WORKLOADS,
    rounds: ROUNDS,
    names: { none: 'no hook' },
    column: 'hook',
  });
}

// ------------------------------------------------------------------ main ----

const run = startRun('npm run bench:leaks');
console.error(`leak check benchmark: sizes ${SIZES.join(', ')}, ${CHECKS} checks per op, ${ROUNDS} rounds`);
const cost = await checkCost();
const hooks = overhead();
const machine = run.finish();
const text = [
  ...machineLines(machine),
  '',
  'Per-test check cost (wall time of begin() + end()):',
  '',
  cost.table,
  '',
  'Tracking overhead (one child process per sample set):',
  '',
  hooks.tables.join('\n\n'),
].join('\n');
console.log(text);
fs.mkdirSync(path.join(here, 'results'), { recursive: true });
fs.writeFileSync(
  path.join(here, 'results', 'leak-check.json'),
  JSON.stringify({ machine, checkCost: cost.results, overhead: hooks.results }, null, 2) + '\n',
);
