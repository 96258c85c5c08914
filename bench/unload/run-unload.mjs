// Runs the unload benchmark: builds its native parts if needed, starts the
// host and the load client (two processes), hands the host its plan, joins
// the results, and returns the document (JSON-able) plus its markdown and SVGs.
import { execFileSync, fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { EXCERPT, analyze, timelines } from './analyze.mjs';
import { markdownReport } from './report.mjs';
import { p99Chart, pacedChart, timelineChart } from './svg.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const nativeDir = path.join(here, 'native');
const built = path.join(nativeDir, 'build', 'Release');
export const PROBE = path.join(built, 'uvd_bench_probe.node');
export const NATIVE_MODULE = path.join(built, 'uvd_bench_module.so');

/**
 * Whether the C module can pace: the module ABI header it is built against
 * (native/include/uv_drain_module.h, the same uv-drain this tree builds)
 * declares budget_left and continue_later (issue 15's C side). Without it
 * the C module's paced mode is drain mode, so 'native-paced' is left out of
 * the plans.
 */
export function nativeCanPace() {
  try {
    return fs.readFileSync(path.join(root, 'native', 'include', 'uv_drain_module.h'), 'utf8').includes('continue_later');
  } catch {
    return false;
  }
}

/** The budget of loop time per iteration of the paced strategies, in ms (see docs/benchmark.md, "Paced unload"). */
export const PACED_BUDGET_MS = 0.5;

export function plans(mode) {
  const paced = nativeCanPace() ? ['paced', 'native-paced'] : ['paced'];
  const full = {
    mode: 'full',
    reps: 4,
    cells: [10, 1000, 10000].flatMap((K) => [0, 100, 10000].map((P) => ({ K, P }))),
    strategies: ['drain', 'poll-immediate', 'poll-interval', 'blocking', 'abrupt', 'native-drain', 'native-blocking', ...paced],
    // The paced strategies' unload budget (coordinator.unload(name, { budgetMs })); the
    // other coordinator strategies are unloaded with Infinity (unpaced, as before issue 15).
    budgetMs: PACED_BUDGET_MS,
    wait: { K: 10, P: 0, waitMs: 200 },
    waitStrategies: ['drain', 'poll-immediate', 'poll-interval'],
    // The idle cell: a K = 1 000 module (P = 0: no threadpool work, whose
    // every completion would make libuv walk all 100 000 uv_async handles of
    // the ports in uv__async_io, a cost of the ports, not of uv-drain) unloaded
    // while the host holds `handles` idle handles of nobody.
    idle: { handles: 100_000, K: 1000, P: 0, strategies: ['drain', 'abrupt', ...paced] },
    rate: 2000,
    conns: 2,
    warmupMs: 1000,
    settleMs: 100,
    baselineMs: 250,
    guardMs: 20,
    gapMs: 50,
    // 480 s since the paced strategies (issue 15): the JS paced unloads at K = 10 000 take seconds each.
    budgetSeconds: 480,
    maxSeconds: 1200,
  };
  if (mode === 'full') return withOverrides(full);
  return withOverrides({
    ...full,
    mode: 'quick',
    reps: 1,
    cells: [10, 1000].flatMap((K) => [0, 100].map((P) => ({ K, P }))),
    wait: { K: 10, P: 0, waitMs: 100 },
    idle: { ...full.idle, handles: 10_000 },
    warmupMs: 500,
    baselineMs: 150,
    budgetSeconds: 40,
    maxSeconds: 300,
  });
}

/**
 * Experiments (bench/run.mjs documents them): BENCH_UNLOAD_CELLS="K:P,K:P"
 * runs only those cells (no wait case, no idle cell);
 * BENCH_UNLOAD_STRATEGIES="paced,drain" only those strategies (in every
 * cell; the wait and idle cells keep the ones they have of them);
 * BENCH_UNLOAD_BUDGET_MS the paced strategies' budget. Each override used is
 * recorded in plan.overrides.
 */
function withOverrides(plan) {
  const env = process.env;
  const overrides = {};
  if (env.BENCH_UNLOAD_CELLS) {
    overrides.cells = env.BENCH_UNLOAD_CELLS;
    plan.cells = env.BENCH_UNLOAD_CELLS.split(',').map((cell) => {
      const [K, P] = cell.split(':').map(Number);
      if (!(K >= 4) || !(P >= 0)) throw new Error(`BENCH_UNLOAD_CELLS: bad cell ${cell} (K:P, K >= 4)`);
      return { K, P };
    });
    plan.wait = null;
    plan.idle = null;
  }
  if (env.BENCH_UNLOAD_STRATEGIES) {
    overrides.strategies = env.BENCH_UNLOAD_STRATEGIES;
    const want = env.BENCH_UNLOAD_STRATEGIES.split(',');
    for (const s of want) if (!plan.strategies.includes(s)) throw new Error(`BENCH_UNLOAD_STRATEGIES: unknown or unavailable strategy ${s}`);
    plan.strategies = want;
    plan.waitStrategies = plan.waitStrategies.filter((s) => want.includes(s));
    if (plan.waitStrategies.length === 0) plan.wait = null;
    if (plan.idle) {
      plan.idle = { ...plan.idle, strategies: plan.idle.strategies.filter((s) => want.includes(s)) };
      if (plan.idle.strategies.length === 0) plan.idle = null;
    }
  }
  if (env.BENCH_UNLOAD_BUDGET_MS) {
    overrides.budgetMs = env.BENCH_UNLOAD_BUDGET_MS;
    plan.budgetMs = Number(env.BENCH_UNLOAD_BUDGET_MS);
    if (!(plan.budgetMs > 0)) throw new Error(`BENCH_UNLOAD_BUDGET_MS: bad budget ${env.BENCH_UNLOAD_BUDGET_MS}`);
  }
  if (Object.keys(overrides).length > 0) plan.overrides = overrides;
  return plan;
}

const noop = () => {};

function log(...a) {
  console.log('[unload]', ...a);
}

function newer(a, b) {
  try {
    return fs.statSync(a).mtimeMs > fs.statSync(b).mtimeMs;
  } catch {
    return true;
  }
}

/** Builds bench/unload/native with node-gyp when an output is missing or older than a source. */
export function buildNative() {
  const sources = ['binding.gyp', 'probe.c', 'bench_module.c'].map((f) => path.join(nativeDir, f));
  for (const h of ['uv_drain_module.h', 'uv_drain.h']) sources.push(path.join(root, 'native', 'include', h));
  const outputs = [PROBE, NATIVE_MODULE];
  if (!outputs.some((o) => sources.some((s) => newer(s, o)))) return;
  const nodeGyp =
    process.env.npm_config_node_gyp ??
    path.join(path.dirname(fs.realpathSync(process.execPath)), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  const args = [nodeGyp, 'rebuild', `--directory=${nativeDir}`];
  const nodedir = process.env.npm_config_nodedir ?? path.resolve(path.dirname(process.execPath), '..');
  if (fs.existsSync(path.join(nodedir, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${nodedir}`);
  log('building bench/unload/native (node-gyp)');
  try {
    execFileSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: root, encoding: 'utf8' });
  } catch (error) {
    console.error(error.stdout, error.stderr);
    throw new Error('building bench/unload/native failed');
  }
}

function waitMessage(child, type, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${what}: no '${type}' within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (m) => {
      if (m?.type === 'progress') log(`${what}: ${m.text}`);
      if (m?.type === 'failed') {
        cleanup();
        reject(new Error(`${what} failed: ${m.error}`));
      }
      if (m?.type === type) {
        cleanup();
        resolve(m);
      }
    };
    const onExit = (code) => {
      cleanup();
      reject(new Error(`${what} exited (${code}) before '${type}'`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

function exited(child, timeoutMs) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      // Only our own child, by its pid.
      if (child.exitCode === null) process.kill(child.pid, 'SIGKILL');
      resolve();
    }, timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function completedReps(host, plan) {
  const perRep = host.plannedCycles / plan.reps;
  let reps = 0;
  for (let r = 0; r < plan.reps; r++) if (host.cycles.filter((c) => c.rep === r).length === perRep) reps++;
  return reps;
}

function cpuModel() {
  try {
    const m = /^model name\s*:\s*(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1];
  } catch {}
  return os.cpus()[0]?.model ?? 'unknown';
}

export function uptime() {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim().replace(/^.*load average:\s*/, '');
  } catch {
    return os.loadavg().map((v) => v.toFixed(2)).join(', ');
  }
}

function fsType(dir) {
  try {
    const line = execFileSync('df', ['-T', dir], { encoding: 'utf8' }).trim().split('\n')[1].split(/\s+/);
    return `${line[1]} (${line[0]})`;
  } catch {
    return 'unknown';
  }
}

export function machine() {
  return {
    node: process.version,
    uv: process.versions.uv,
    v8: process.versions.v8,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    cpus: os.availableParallelism?.() ?? os.cpus().length,
    cpuModel: cpuModel(),
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    shared: 'yes: other jobs were running on this machine during the run',
  };
}

/**
 * @param {'full'|'quick'} mode
 * @param {{ reps?: number, rate?: number, resultsDir: string }} o
 */
export async function runUnload(mode, o) {
  const plan = { ...plans(mode) };
  if (o.reps) plan.reps = o.reps;
  if (o.rate) plan.rate = o.rate;
  buildNative();
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'uv-drain-bench-'));
  const tmpRows = path.join(o.resultsDir, `.client-${mode}.bin`);
  const tmpHost = path.join(o.resultsDir, `.host-${mode}.json`);
  const loadBefore = uptime();
  const started = process.hrtime.bigint();
  const maxS = plan.maxSeconds;

  const host = fork(path.join(here, 'host.mjs'), ['--probe', PROBE, '--budget-seconds', String(plan.budgetSeconds), '--max-seconds', String(maxS)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  host.on('error', (e) => log('host channel:', e.message));
  let client;
  try {
    const { port } = await waitMessage(host, 'ready', 30_000, 'host');
    client = fork(
      path.join(here, 'client.mjs'),
      ['--port', String(port), '--rate', String(plan.rate), '--conns', String(plan.conns), '--max-seconds', String(maxS + 60), '--out', tmpRows],
      { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
    );
    client.on('error', (e) => log('client channel:', e.message));
    const { upstreamPort } = await waitMessage(client, 'ready', 30_000, 'client');
    client.send({ type: 'start' });
    log(`${mode}: ${plan.reps} repetition(s), client at ${plan.rate} requests/s`);
    host.send({ type: 'start', plan: { ...plan, dir: scratch, upstreamPort, nativeModule: NATIVE_MODULE, out: tmpHost, seed: 0x5eed } });
    await waitMessage(host, 'done', (maxS + 30) * 1000, 'host');
    client.send({ type: 'stop' });
    await waitMessage(client, 'done', 30_000, 'client');
  } finally {
    // A child may be disconnecting already: errors go to the callback.
    if (host.connected) host.send({ type: 'exit' }, noop);
    if (client?.connected) client.send({ type: 'stop' }, noop);
    await Promise.all([exited(host, 20_000), client ? exited(client, 20_000) : null]);
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  const durationS = Number(process.hrtime.bigint() - started) / 1e9;
  const loadAfter = uptime();

  const hostResult = JSON.parse(fs.readFileSync(tmpHost, 'utf8'));
  const buf = fs.readFileSync(tmpRows);
  const rows = new Float64Array(buf.buffer, buf.byteOffset, buf.byteLength / 8);
  fs.rmSync(tmpHost, { force: true });
  // The raw requests stay next to the results (git-ignored), for re-analysis:
  // rows of [due, sent, answered] float64 µs of CLOCK_MONOTONIC.
  fs.renameSync(tmpRows, path.join(o.resultsDir, `unload-${mode}-requests.f64`));

  const result = analyze(hostResult, rows, plan);
  const series = timelines(hostResult, rows, plan);
  const meta = {
    benchmark: 'unload',
    date: new Date().toISOString(),
    ...machine(),
    loadBefore,
    loadAfter,
    scratchFs: fsType(os.tmpdir()),
    lateness: hostResult.eld.perIteration
      ? 'monitorEventLoopDelay, sampled once per loop iteration'
      : `monitorEventLoopDelay, resolution ${hostResult.eld.resolutionMs} ms, interval subtracted`,
  };
  const doc = {
    meta,
    plan: {
      ...plan,
      plannedCycles: hostResult.plannedCycles,
      cyclesRun: hostResult.cycles.length,
      repetitionsCompleted: completedReps(hostResult, plan),
      stoppedEarly: hostResult.stoppedEarly,
    },
    durationS,
    result,
    timelines: series,
    cycles: hostResult.cycles,
  };
  const label = `${mode} run, ${meta.date.slice(0, 10)}, Node ${meta.node}, ${meta.cpus} CPUs (shared)`;
  return {
    doc,
    markdown: markdownReport(doc),
    svgs: {
      timeline: timelineChart(series, result.baseline.latency.p99Ms, label, EXCERPT),
      p99: p99Chart(result.groups.filter((g) => !g.idle), result.baseline.latency.p99Ms, label),
      paced: pacedChart(result.groups.filter((g) => !g.idle), result.baseline.latency.p99Ms, label, plan.budgetMs),
    },
  };
}
