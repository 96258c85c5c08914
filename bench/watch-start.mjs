// What starting a drain watch costs an owner with many pending JS timers, and
// what an owned timer's birth and end cost, for one or more builds of
// uv-drain side by side in one run:
//
//   node --expose-gc bench/watch-start.mjs [--before DIR] [--rounds N] [--only W,W]
//
// DIR is another checkout of uv-drain, built (dist/ and the addon), e.g. the
// commit before a change; without it only this checkout is measured. Each
// sample is a child process (`--child <root> <workload>`), the builds in
// rotation, ROUNDS children per build and workload; reported: the median
// (and p90) over every repetition of every child.
//
// Workloads:
//   start-N   N pending setTimeout(f, 1e6) made under withOwner('bench'), then
//             the synchronous part of whenDrained('bench', { signal }) (ms):
//             the loop is blocked that long at the moment a drain watch
//             starts. The watch is then aborted and the timers cleared; fresh
//             timers for every repetition.
//   birth     20 000 owned births: setTimeout(f, 1e6) under withOwner, no
//             watch (ns per birth); then their clearTimeout (ns per end), and
//             that with the countsFor() read after it (what an end leaves to
//             the next read is paid there), per timer.
//   birth-watched  the same while a drain watch of the owner is pending.
//   bookkeeping  countWork() alone (what births.ts does for an owned timer,
//             without the stack capture that hides it in a birth), over
//             20 000 timers made by nobody; then their clearTimeout with the
//             countsFor() after.
//   unowned   20 000 setTimeout + clearTimeout, then setImmediate +
//             clearImmediate, of nobody, no hook, after one owned timer of
//             each kind (what every timer of the process pays for an accessor
//             on the prototype).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { markdownTable, median, num, p90 } from './lib/stats.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const REPS = 7;
const BIRTHS = 20_000;
const gc = globalThis.gc ?? (() => {});
const f = () => {};

function ownedTimers(uv, n) {
  const timers = [];
  // Chunks keep each withOwner() call short, as a module's init would be.
  for (let made = 0; made < n; made += 1000) {
    uv.withOwner('bench', () => {
      for (let i = 0; i < Math.min(1000, n - made); i++) timers.push(setTimeout(f, 1e6));
    });
  }
  return timers;
}

async function settle() {
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
}

async function startRep(uv, n) {
  const timers = ownedTimers(uv, n);
  gc();
  await settle();
  const controller = new AbortController();
  const t0 = process.hrtime.bigint();
  const drained = uv.whenDrained('bench', { signal: controller.signal });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  drained.catch(() => {});
  await settle();
  controller.abort();
  await drained.catch(() => {});
  for (const t of timers) clearTimeout(t);
  await settle();
  if (uv.countsFor('bench').timers !== 0) throw new Error('timers left');
  return ms;
}

async function birthRep(uv, watched) {
  const controller = new AbortController();
  let drained;
  let held;
  if (watched) {
    // One owned timer keeps the owner from draining while the watch is on.
    held = uv.withOwner('bench', () => setTimeout(f, 1e6));
    drained = uv.whenDrained('bench', { signal: controller.signal }).catch(() => {});
    await settle();
  }
  gc();
  const timers = new Array(BIRTHS);
  const t0 = process.hrtime.bigint();
  uv.withOwner('bench', () => {
    for (let i = 0; i < BIRTHS; i++) timers[i] = setTimeout(f, 1e6);
  });
  const t1 = process.hrtime.bigint();
  for (let i = 0; i < BIRTHS; i++) clearTimeout(timers[i]);
  const t2 = process.hrtime.bigint();
  // The first read after: whatever the ends left to do (a walk of the pending set) is done here.
  const left = uv.countsFor('bench').timers;
  const t3 = process.hrtime.bigint();
  if (left !== (watched ? 1 : 0)) throw new Error(`${left} timers left`);
  if (watched) {
    clearTimeout(held);
    controller.abort();
    await drained;
  }
  await settle();
  if (uv.countsFor('bench').timers !== 0) throw new Error('timers left');
  return { birth: Number(t1 - t0) / BIRTHS, end: Number(t2 - t1) / BIRTHS, endRead: Number(t3 - t1) / BIRTHS };
}

// countWork() alone, the bookkeeping of an owned timer's birth (a birth also
// captures a stack, ~20 µs here, which hides tens of ns): BIRTHS timers of
// nobody, then counted for the owner one by one as births.ts would.
async function bookkeepingRep(root, uv) {
  const { countWork } = require(path.join(root, 'dist', 'owned-work.js'));
  const { ownerRecord } = require(path.join(root, 'dist', 'owners.js'));
  // An owned timer of each kind first (the accessor goes on the prototypes then).
  uv.withOwner('bench', () => {
    clearTimeout(setTimeout(f, 1e6));
    clearImmediate(setImmediate(f));
  });
  const record = ownerRecord('bench');
  const timers = new Array(BIRTHS);
  for (let i = 0; i < BIRTHS; i++) timers[i] = setTimeout(f, 1e6);
  gc();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < BIRTHS; i++) countWork(1e12 + nextId++, 'Timeout', timers[i], record);
  const t1 = process.hrtime.bigint();
  for (let i = 0; i < BIRTHS; i++) clearTimeout(timers[i]);
  const left = uv.countsFor('bench').timers;
  const t2 = process.hrtime.bigint();
  if (left !== 0) throw new Error(`${left} timers left`);
  await settle();
  return { count: Number(t1 - t0) / BIRTHS, endRead: Number(t2 - t1) / BIRTHS };
}
let nextId = 0;

function unownedRep() {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < BIRTHS; i++) clearTimeout(setTimeout(f, 1e6));
  const t1 = process.hrtime.bigint();
  for (let i = 0; i < BIRTHS; i++) clearImmediate(setImmediate(f));
  const t2 = process.hrtime.bigint();
  return { timeout: Number(t1 - t0) / BIRTHS, immediate: Number(t2 - t1) / BIRTHS };
}

let require;

async function child(root, workload) {
  require = createRequire(path.join(root, 'package.json'));
  const uv = require(path.join(root, 'dist', 'index.js'));
  const out = {};
  const push = (key, v) => (out[key] ??= []).push(v);
  // One warm-up repetition, not reported.
  for (let rep = -1; rep < REPS; rep++) {
    if (workload.startsWith('start-')) {
      const ms = await startRep(uv, Number(workload.slice(6)));
      if (rep >= 0) push('ms', ms);
    } else if (workload === 'birth' || workload === 'birth-watched') {
      const r = await birthRep(uv, workload === 'birth-watched');
      if (rep >= 0) {
        push('birth', r.birth);
        push('end', r.end);
        push('endRead', r.endRead);
      }
    } else if (workload === 'bookkeeping') {
      const r = await bookkeepingRep(root, uv);
      if (rep >= 0) {
        push('count', r.count);
        push('endRead', r.endRead);
      }
    } else if (workload === 'unowned') {
      // An owned timer of each kind first: the accessor is on the prototypes (if the build has one).
      if (rep < 0) {
        uv.withOwner('bench', () => {
          clearTimeout(setTimeout(f, 1e6));
          clearImmediate(setImmediate(f));
        });
      }
      const r = unownedRep();
      if (rep >= 0) {
        push('timeout', r.timeout);
        push('immediate', r.immediate);
      }
    } else throw new Error(`unknown workload ${workload}`);
    await settle();
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    child: { type: 'boolean', default: false },
    before: { type: 'string' },
    rounds: { type: 'string', default: '5' },
    only: { type: 'string' },
  },
});

if (args.child) {
  await child(positionals[0], positionals[1]);
  process.exit(0);
}

const roots = [];
if (args.before !== undefined) roots.push({ name: 'before', root: path.resolve(args.before) });
roots.push({ name: args.before !== undefined ? 'after' : 'this checkout', root: path.resolve(here, '..') });
const ALL = ['start-5000', 'start-20000', 'birth', 'birth-watched', 'bookkeeping', 'unowned'];
const WORKLOADS = args.only === undefined ? ALL : args.only.split(',');
const rounds = Number(args.rounds);
const samples = new Map();
for (let round = 0; round < rounds; round++) {
  for (const workload of WORKLOADS) {
    for (const { name, root } of round % 2 === 0 ? roots : [...roots].reverse()) {
      const c = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--child', root, workload], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      if (c.status !== 0) throw new Error(`child ${name} ${workload} failed: ${c.status}`);
      for (const [key, values] of Object.entries(JSON.parse(c.stdout))) {
        const k = `${workload}|${key}|${name}`;
        if (!samples.has(k)) samples.set(k, []);
        samples.get(k).push(...values);
      }
    }
  }
  console.error(`  round ${round + 1}/${rounds} done`);
}

const LABELS = {
  'start-5000|ms': 'watch start, 5 000 owned timers (ms, sync)',
  'start-20000|ms': 'watch start, 20 000 owned timers (ms, sync)',
  'birth|birth': 'owned timer birth, no watch (ns)',
  'birth|end': 'owned timer clearTimeout, no watch (ns)',
  'birth|endRead': '… with the countsFor() after, per timer (ns)',
  'birth-watched|birth': 'owned timer birth, watched (ns)',
  'birth-watched|end': 'owned timer clearTimeout, watched (ns)',
  'birth-watched|endRead': '… with the countsFor() after, per timer (ns)',
  'bookkeeping|count': "countWork() of a timer (an owned birth's bookkeeping, ns)",
  'bookkeeping|endRead': '… its clearTimeout with the countsFor() after (ns)',
  'unowned|timeout': 'setTimeout + clearTimeout of nobody (ns)',
  'unowned|immediate': 'setImmediate + clearImmediate of nobody (ns)',
};
const rows = Object.entries(LABELS).filter(([key]) => WORKLOADS.includes(key.split('|')[0])).map(([key, label]) => {
  const row = [label];
  for (const { name } of roots) {
    const s = samples.get(`${key}|${name}`) ?? [];
    row.push(`${num(median(s))} (p90 ${num(p90(s))}, n=${s.length})`);
  }
  return row;
});
console.log(
  `node ${process.version}, ${new Date().toISOString()}, ${rounds} rounds × ${REPS} repetitions per build\n` +
    roots.map(({ name, root }) => `${name}: ${root}`).join('\n') +
    '\n\n' +
    markdownTable(['figure (median)', ...roots.map((r) => r.name)], rows, ['l', ...roots.map(() => 'r')]),
);
