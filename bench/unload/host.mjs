// The unload benchmark's host process: serves a TCP echo on 127.0.0.1 (the
// load client, another process, measures it) while it loads and unloads
// modules, one at a time, with every strategy in turn.
//
// Per cycle (one strategy, one module size K, P pending commits):
//   load -> settle -> baseline segment (module loaded, nothing happening)
//   -> unload window (P commits enqueued, then the strategy's unload)
//   -> guard (after-effects: close callbacks of modules that were declared
//      unloaded, backlog) -> the module is verified gone -> gap.
// Recorded: every time mark (µs of CLOCK_MONOTONIC, = process.hrtime),
// process.cpuUsage() over each baseline segment and unload window, loop
// lateness (monitorEventLoopDelay, folded per segment into
// perf_hooks.createHistogram), the module's last callback and the moment the
// drain was noticed (time, libuv loop_count, uv-drain watcher iteration), the
// commits found durable in the file afterwards.
//
// Strategies:
//   drain           UnloadCoordinator: cleanup event -> exact drain -> removal
//   poll-immediate  cleanup(), then countsFor() + deinit() polled with setImmediate
//   poll-interval   cleanup(), then the same polled with a 10 ms setInterval
//   blocking        deinit() does the pending commits with writeSync+fsyncSync
//   abrupt          deinit() drops the pending commits
//   native-drain    the C module through the coordinator, commits on the threadpool
//   native-blocking the C module through the coordinator, commits written and
//                   fsync'ed synchronously in its first deinit call
//   paced           the JS module in 'paced' mode through the coordinator with
//                   budgetMs: plan.budgetMs (issue 15): stops accepting, then
//                   closes its sockets and timers in budgeted slices
//                   (ctx.paced), commits on the threadpool as in drain
//   native-paced    the C module in 'paced' mode (budget_left, continue_later)
//                   through the coordinator with the same budget
// Every coordinator cycle records the budget it was unloaded with (the
// unpaced ones: Infinity) and the report's durationMs and pacing.
//
// The idle cell (plan.idle): the same cycles while the host also holds
// plan.idle.handles idle handles of nobody — MessageChannel ports, made
// before the cell's first cycle of each repetition (outside any owner) and
// closed after its last one. Its baseline segments are folded apart
// ('baseline-idle'): the cell has its own baseline besides the run's.
//
// Started by bench/run.mjs (IPC): -> ready {port}; <- start {plan};
// -> progress; -> done {file}; <- exit. --budget-seconds bounds the
// repetitions after the first; a hard timer ends the process at --max-seconds.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { createHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

import { countCommits, composition, createBenchModule, watchDirFor } from './module.mjs';
import { REC } from './record.mjs';
import { prng, shuffle } from '../lib/stats.mjs';

const require = createRequire(import.meta.url);
const uv = require('../../dist/index.js');
const { binding } = require('../../dist/native.js');

const { values: args } = parseArgs({
  options: {
    probe: { type: 'string' },
    'budget-seconds': { type: 'string', default: '390' },
    'max-seconds': { type: 'string', default: '1200' },
  },
});
const probe = require(path.resolve(args.probe));
const BUDGET_S = Number(args['budget-seconds']);
const MAX_S = Number(args['max-seconds']);

const hard = setTimeout(() => {
  console.error('host: hard time limit reached, exiting');
  process.exit(3);
}, MAX_S * 1000);
hard.unref();

const now = () => Number(process.hrtime.bigint()) / 1e3;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const cpuUs = () => {
  const c = process.cpuUsage();
  return c.user + c.system;
};
const noop = () => {};

// ---- the echo the client measures (no owner) -------------------------------
const echo = net.createServer((s) => {
  s.setNoDelay(true);
  s.on('data', (d) => s.write(d));
  s.on('error', noop);
});
await new Promise((resolve) => echo.listen({ port: 0, host: '127.0.0.1', backlog: 64 }, resolve));

uv.trackOwners(true);

// ---- loop lateness ----------------------------------------------------------
// Per-iteration sampling where this Node has it (it validates the option:
// a non-boolean throws); else a 1 ms timer, whose interval is subtracted.
let perIteration = false;
try {
  monitorEventLoopDelay({ samplePerIteration: 'probe' });
} catch (e) {
  perIteration = e?.code === 'ERR_INVALID_ARG_TYPE';
}
const ELD_RESOLUTION_MS = 1;
const eld = perIteration
  ? monitorEventLoopDelay({ samplePerIteration: true })
  : monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
const eldSubtractNs = perIteration ? 0 : ELD_RESOLUTION_MS * 1e6;
eld.enable();
const lateness = new Map(); // key -> RecordableHistogram (ns, interval subtracted)
const latenessExact = new Map(); // key -> { max, samples }

/**
 * Folds what monitorEventLoopDelay recorded since the last reset into the
 * histogram of `key`: each point of its percentile iteration (HdrHistogram,
 * one tick per half distance) is recorded with the weight of the percentile
 * step it closes. Exact at the max; a step approximation below it.
 */
function fold(key) {
  let h = lateness.get(key);
  if (h === undefined) {
    h = createHistogram();
    lateness.set(key, h);
    latenessExact.set(key, { max: 0, samples: 0 });
  }
  const n = eld.count;
  if (n > 0) {
    let recorded = 0;
    for (const [p, v] of eld.percentiles) {
      const upTo = Math.round((n * p) / 100);
      const w = upTo - recorded;
      const value = Math.max(1, Math.round(v - eldSubtractNs));
      for (let i = 0; i < w; i++) h.record(value);
      recorded += Math.max(0, w);
    }
    const ex = latenessExact.get(key);
    ex.max = Math.max(ex.max, eld.max - eldSubtractNs);
    ex.samples += n;
  }
  eld.reset();
}

function histStats(key) {
  const h = lateness.get(key);
  const ex = latenessExact.get(key);
  if (h === undefined || h.count === 0) return { samples: 0 };
  return {
    samples: ex.samples,
    p50Ms: h.percentile(50) / 1e6,
    p99Ms: h.percentile(99) / 1e6,
    maxMs: Math.max(0, ex.max) / 1e6,
  };
}

// ---- idle handles of nobody (the idle cell) ---------------------------------
// MessageChannel ports: one uv_async handle each and no file descriptor (the
// host's limit of open files is far below 100 000 connections), unref'd so
// that they never hold the loop. Made in the host's own flow, outside any
// owner: verified by the owned totals, which must not move.
const idlePorts = [];
const idleSetups = [];
const ownedTotal = () => Object.values(uv.countsByOwner()).reduce((s, c) => s + c.total, 0);

async function makeIdle(handles, rep) {
  const owned0 = ownedTotal();
  const loop0 = binding.bareTraversal();
  const t0 = now();
  for (let made = 0; made < handles; ) {
    const chunk = Math.min(2000, handles - made);
    for (let i = 0; i < chunk; i += 2) {
      const { port1, port2 } = new MessageChannel();
      port1.unref();
      port2.unref();
      idlePorts.push(port1, port2);
    }
    made += chunk;
    // Let the echo answer meanwhile (the client is running).
    await new Promise((resolve) => setImmediate(resolve));
  }
  const setup = {
    rep,
    handles: idlePorts.length,
    makeMs: (now() - t0) / 1e3,
    loopHandlesAdded: binding.bareTraversal() - loop0,
    ownedAdded: ownedTotal() - owned0,
    closeMs: null,
  };
  idleSetups.push(setup);
  if (setup.ownedAdded !== 0 || setup.loopHandlesAdded < handles - 100) {
    throw new Error(`idle handles: ${setup.loopHandlesAdded} added to the loop, ${setup.ownedAdded} of them owned (want ${handles}, 0)`);
  }
  process.send({ type: 'progress', text: `idle cell: ${setup.handles} ports of nobody made in ${setup.makeMs.toFixed(0)} ms` });
  // Let the burst of allocation settle before the cell's first cycle.
  await sleep(200);
}

async function closeIdle() {
  if (idlePorts.length === 0) return;
  const t0 = now();
  for (const p of idlePorts) p.close();
  idlePorts.length = 0;
  await new Promise((resolve) => setImmediate(resolve));
  await sleep(50);
  idleSetups.at(-1).closeMs = (now() - t0) / 1e3;
}

// ---- strategies -------------------------------------------------------------
const coordinator = new uv.UnloadCoordinator({ timeoutMs: 120_000 });
let current = null; // the cycle being measured
coordinator.on('drained', (name) => {
  if (current !== null && current.name === name && current.detect === null) {
    current.detect = { t: now(), lc: probe.loopCount(), wi: binding.watchIteration(), cpuUs: cpuUs() };
  }
});
coordinator.on('error', noop);

const drainedCounts = (c) => c.total === 0 && c.requests === 0 && c.timers === 0;

async function loadJs(cycle, plan) {
  const mode = ['blocking', 'abrupt', 'paced'].includes(cycle.strategy) ? cycle.strategy : 'drain';
  const mod = createBenchModule({
    K: cycle.K,
    mode,
    file: cycle.file,
    watchDir: watchDirFor(plan.dir, cycle.name),
    loopCount: probe.loopCount,
    watchIteration: binding.watchIteration,
    upstream: cycle.waitMs > 0 ? { port: plan.upstreamPort, waitMs: cycle.waitMs } : null,
    onCleanupDone: () => {
      cycle.cleanupDone = { t: now(), cpuUs: cpuUs() };
    },
  });
  if (cycle.strategy === 'drain' || cycle.strategy === 'paced') await coordinator.load(cycle.name, mod);
  else await uv.withOwner(cycle.name, () => mod.init());
  return mod;
}

async function loadNative(cycle, plan) {
  const { connections: C } = composition(cycle.K);
  fs.mkdirSync(watchDirFor(plan.dir, cycle.name), { recursive: true });
  process.env.UVD_BENCH_K = String(cycle.K);
  process.env.UVD_BENCH_FILE = cycle.file;
  process.env.UVD_BENCH_DIR = watchDirFor(plan.dir, cycle.name);
  process.env.UVD_BENCH_MODE = cycle.strategy.slice('native-'.length);
  process.env.UVD_BENCH_RECORD = probe.recordAddress();
  probe.resetRecord();
  await coordinator.load(cycle.name, { native: plan.nativeModule });
  for (let i = 0; i < 2000; i++) {
    const r = probe.record();
    if (r[REC.CONNECTED] >= C && r[REC.ACCEPTED] >= C) return null;
    if (r[REC.ERROR] !== 0) break;
    await sleep(5);
  }
  throw new Error(`native module: connections not ready: ${probe.record().join(',')}`);
}

const COORDINATED = new Set(['drain', 'paced', 'native-drain', 'native-blocking', 'native-paced']);
const PACED = new Set(['paced', 'native-paced']);

/** The unload window: returns when the strategy considers the module gone. */
async function unload(cycle, mod, plan) {
  const s = cycle.strategy;
  if (COORDINATED.has(s)) {
    // Paced strategies get the plan's budget; the others are unloaded
    // unpaced (Infinity: as before pacing existed; their modules never ask).
    const budgetMs = PACED.has(s) ? plan.budgetMs : Infinity;
    cycle.budgetMs = budgetMs === Infinity ? null : budgetMs; // JSON: null is Infinity (unpaced)
    const report = await coordinator.unload(cycle.name, { budgetMs });
    cycle.deinitCalls = report.deinitCalls;
    cycle.coordinatorMs = report.durationMs;
    cycle.pacing = report.pacing ?? null;
    return;
  }
  if (s === 'blocking' || s === 'abrupt') {
    const answer = uv.withOwner(cycle.name, () => mod.deinit());
    cycle.deinitCalls = 1;
    if (answer !== 'done') throw new Error(`${s}: deinit answered ${answer}`);
    return;
  }
  // Polling peers: the same module and accounting, no coordinator.
  uv.withOwner(cycle.name, () => mod.cleanup());
  cycle.deinitCalls = 0;
  await new Promise((resolve) => {
    const check = () => {
      const c = uv.countsFor(cycle.name);
      if (!drainedCounts(c)) return false;
      cycle.deinitCalls++;
      if (mod.deinit() !== 'done') return false;
      cycle.detect = { t: now(), lc: probe.loopCount(), wi: binding.watchIteration(), cpuUs: cpuUs() };
      resolve();
      return true;
    };
    if (s === 'poll-immediate') {
      const spin = () => {
        if (!check()) setImmediate(spin);
      };
      setImmediate(spin);
    } else {
      const iv = setInterval(() => {
        if (check()) clearInterval(iv);
      }, 10);
    }
  });
}

async function runCycle(cycle, plan) {
  const native = cycle.strategy.startsWith('native-');
  cycle.file = path.join(plan.dir, `${cycle.name}.commits`);
  cycle.detect = null;
  cycle.cleanupDone = null;

  // load
  cycle.load = { t0: now() };
  const mod = native ? await loadNative(cycle, plan) : await loadJs(cycle, plan);
  cycle.load.t1 = now();
  cycle.load.counts = uv.countsFor(cycle.name);
  await sleep(plan.settleMs);

  // baseline segment: the module is loaded, nothing else happens
  fold('other');
  let c0 = cpuUs();
  cycle.baseline = { t0: now() };
  await sleep(plan.baselineMs);
  cycle.baseline.t1 = now();
  cycle.baseline.cpuUs = cpuUs() - c0;
  fold(cycle.idle > 0 ? 'baseline-idle' : 'baseline');

  // unload window
  current = cycle;
  if (native) process.env.UVD_BENCH_P = String(cycle.P);
  else mod.enqueue(cycle.P);
  c0 = cpuUs();
  cycle.window = { t0: now(), lc0: probe.loopCount() };
  await unload(cycle, mod, plan);
  cycle.window.t1 = now();
  cycle.window.lc1 = probe.loopCount();
  cycle.window.cpuUs = cpuUs() - c0;
  if (!native) mod.state.unloaded = true;
  cycle.leftAtReturn = uv.countsFor(cycle.name);
  current = null;

  // What a strategy declared gone may still run module code (close
  // callbacks): wait until uv-drain sees it gone, then the guard, before the
  // window's loop lateness is taken. Requests are attributed up to the
  // module's last callback + guard (analyze.mjs).
  await uv.whenDrained(cycle.name, { timeoutMs: 60_000 });
  await sleep(plan.guardMs);
  fold(`window:${cycle.strategy}:${cycle.K}:${cycle.P}:${cycle.waitMs}${cycle.idle > 0 ? `:idle${cycle.idle}` : ''}`);

  if (native) {
    const r = probe.record();
    cycle.lastCb = { t: r[REC.LAST_NS] / 1e3, lc: r[REC.LAST_LOOP], wi: null };
    cycle.cleanupDone = { t: r[REC.CLEANUP_NS] / 1e3, cpuUs: r[REC.CLEANUP_CPU_US] };
    cycle.moduleErrors = r[REC.ERROR];
    cycle.acked = r[REC.ACKED];
    cycle.flushMs = r[REC.FLUSH_NS] / 1e6;
    cycle.callbacksAfterUnload = null; // the coordinator removes it only after its last callback
    cycle.continuations = r[REC.LATER]; // paced mode: continue_later calls uv-drain ran
  } else {
    cycle.lastCb = mod.state.lastCb;
    cycle.moduleErrors = mod.state.errors;
    cycle.acked = mod.state.acked;
    cycle.callbacksAfterUnload = mod.state.callbacksAfterUnload;
  }
  cycle.durable = countCommits(cycle.file, cycle.P);
  cycle.lost = cycle.P - cycle.durable;
  fs.rmSync(cycle.file, { force: true });
  fs.rmSync(watchDirFor(plan.dir, cycle.name), { recursive: true, force: true });
  await sleep(plan.gapMs);
  fold('other');
}

// Cell-major: every strategy of a cell runs close together in time (shuffled
// per cell and repetition), so that the machine's drifts hit them alike.
function buildCycles(plan) {
  const random = prng(plan.seed);
  const cycles = [];
  let n = 0;
  for (let rep = 0; rep < plan.reps; rep++) {
    const cells = plan.cells.map((c) => ({ ...c, waitMs: 0, idle: 0, strategies: plan.strategies }));
    if (plan.wait) cells.push({ ...plan.wait, idle: 0, strategies: plan.waitStrategies });
    if (plan.idle) cells.push({ K: plan.idle.K, P: plan.idle.P, waitMs: 0, idle: plan.idle.handles, strategies: plan.idle.strategies });
    for (const cell of cells) {
      for (const strategy of shuffle([...cell.strategies], random)) {
        const name = strategy.startsWith('native-') ? 'uvd_bench_module' : `m${n}_${strategy.replace('-', '_')}`;
        cycles.push({ index: n++, rep, strategy, K: cell.K, P: cell.P, waitMs: cell.waitMs, idle: cell.idle, name });
      }
    }
  }
  return cycles;
}

async function run(plan) {
  fs.mkdirSync(plan.dir, { recursive: true });
  const started = now();
  await sleep(plan.warmupMs);
  fold('other');
  const cycles = buildCycles(plan);
  const done = [];
  // Time budget: the first repetition always completes (every cell gets a
  // figure); a later one starts only if the previous one's duration still
  // fits in the budget, and its cycles only before the budget is spent.
  let repStarted = now();
  let lastRepUs = 0;
  let stopped = null;
  for (const cycle of cycles) {
    if (cycle.rep > 0 && done.length > 0 && done[done.length - 1].rep !== cycle.rep) {
      lastRepUs = now() - repStarted;
      repStarted = now();
      if ((now() - started + lastRepUs) / 1e6 > BUDGET_S) {
        stopped = `repetition ${cycle.rep + 1} not started: the last one took ${(lastRepUs / 1e6).toFixed(0)} s`;
        break;
      }
    }
    if (cycle.rep > 0 && (now() - started) / 1e6 > BUDGET_S) {
      stopped = `time budget spent in repetition ${cycle.rep + 1}`;
      break;
    }
    if (cycle.idle === 0) await closeIdle();
    else if (idlePorts.length === 0) await makeIdle(cycle.idle, cycle.rep);
    await runCycle(cycle, plan);
    done.push(cycle);
    if (cycle.index % 10 === 9 || cycle.index === cycles.length - 1) {
      process.send({ type: 'progress', text: `cycle ${cycle.index + 1}/${cycles.length} (${((now() - started) / 1e6).toFixed(0)} s)` });
    }
  }
  await closeIdle();
  if (stopped !== null) process.send({ type: 'progress', text: `stopped early: ${stopped}` });
  const keys = [...lateness.keys()];
  return {
    started,
    finished: now(),
    eld: {
      perIteration,
      resolutionMs: perIteration ? null : ELD_RESOLUTION_MS,
      subtractedMs: eldSubtractNs / 1e6,
      byKey: Object.fromEntries(keys.map((k) => [k, histStats(k)])),
    },
    cycles: done,
    idleSetups,
    plannedCycles: cycles.length,
    stoppedEarly: stopped,
  };
}

process.on('message', async (m) => {
  if (m?.type === 'start') {
    try {
      const result = await run(m.plan);
      fs.writeFileSync(m.plan.out, JSON.stringify(result));
      process.send({ type: 'done', file: m.plan.out, cycles: result.cycles.length });
    } catch (error) {
      process.send({ type: 'failed', error: String(error?.stack ?? error) });
    }
  } else if (m?.type === 'exit') {
    eld.disable();
    echo.close();
    for (const s of echoSockets) s.destroy();
    await coordinator.quit({ timeoutMs: 10_000 }).catch(noop);
    process.disconnect();
  }
});

const echoSockets = new Set();
echo.on('connection', (s) => {
  echoSockets.add(s);
  s.once('close', () => echoSockets.delete(s));
});

process.send({ type: 'ready', port: echo.address().port });
