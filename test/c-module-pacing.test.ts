// Paced wrap-up of a native C module (native/include/uv_drain_module.h,
// "Paced wrap-up": ctx->budget_left and ctx->continue_later), with a real
// module: test/fixtures/paced_module.c flushes queued records and closes its
// timers one item at a time, asking for the budget between items and for a
// continuation once it is spent, and logs every slice with the loop_count it
// ran in. Slices are told apart by loop_count (it moves right before each
// poll), never by wall-clock thresholds.
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { ModuleInitError, UnloadTimeoutError, countsFor, snapshot } from '../dist/index.js';
import { cModule } from '../dist/c-module.js';
import { binding } from '../dist/native.js';
import { loadFixture } from './fixture.js';
import { baselinePerTest, coordinator, quitCoordinators, rejection, thrown, uniqueName, until } from './helpers.js';

baselinePerTest({ tidy: () => quitCoordinators() });

const fx = loadFixture();
const root = fileURLToPath(new URL('..', import.meta.url));
const built = (file: string) => fs.realpathSync(path.join(root, 'test', 'fixtures', 'build', 'Release', file));
const PACED_SO = built('paced_module.so');
const OLD_SO = built('old_ctx_module.so');
const WORKER = path.join(root, 'test', 'scripts', 'c-module-paced-worker.mjs');
const { EINVAL: UV_EINVAL, EPERM: UV_EPERM } = binding.uvErrors;
const UNPACED = 18446744073709551615n; // UV_DRAIN_UNPACED

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvd-cpaced-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Slice {
  iteration: number;
  items: number;
  leftBeforeLast: bigint;
  leftAfter: bigint;
}

interface PacedLog {
  init?: { nullRc: number; threadRc: number; threadLeft: bigint };
  slices: Slice[];
}

function readLog(file: string): PacedLog {
  const log: PacedLog = { slices: [] };
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[0] === 'init') log.init = { nullRc: Number(f[1]), threadRc: Number(f[2]), threadLeft: BigInt(f[3]!) };
    else if (f.length === 4) log.slices.push({ iteration: Number(f[0]), items: Number(f[1]), leftBeforeLast: BigInt(f[2]!), leftAfter: BigInt(f[3]!) });
  }
  return log;
}

/** A copy of paced_module.so of its own (one object is loaded once at a time), and its log file. */
function pacedCopy(what: string): { so: string; log: string } {
  const name = uniqueName(what);
  const so = path.join(dir, `${name}.so`);
  fs.copyFileSync(PACED_SO, so);
  return { so, log: path.join(dir, `${name}.log`) };
}

/** The module's knobs (read by its init from the environment). */
function setKnobs(knobs: { records?: number; timers?: number; itemUs?: number; mode?: string; log?: string }): void {
  process.env.UVD_PACED_RECORDS = String(knobs.records ?? 0);
  process.env.UVD_PACED_TIMERS = String(knobs.timers ?? 200);
  process.env.UVD_PACED_ITEM_US = String(knobs.itemUs ?? 20);
  process.env.UVD_PACED_MODE = knobs.mode ?? 'paced';
  process.env.UVD_PACED_LOG = knobs.log ?? '';
}

/** A copy of the module loaded into `c` with `knobs` (and a log file of its own). */
async function loadPaced(
  c: ReturnType<typeof coordinator>,
  what: string,
  knobs: Omit<Parameters<typeof setKnobs>[0], 'log'>,
): Promise<{ name: string; so: string; log: string }> {
  const { so, log } = pacedCopy(what);
  setKnobs({ ...knobs, log });
  const name = uniqueName(what);
  await c.load(name, { native: so, symbols: 'paced' });
  return { name, so, log };
}

beforeEach(() => () => {
  for (const k of ['RECORDS', 'TIMERS', 'ITEM_US', 'MODE', 'LOG']) delete process.env[`UVD_PACED_${k}`];
});

/** Every slice but the last stopped because the share was spent; slices lie in strictly later iterations. */
function expectHonoured(slices: Slice[], total: number): void {
  expect(slices.reduce((n, s) => n + s.items, 0)).toBe(total);
  for (const s of slices.slice(0, -1)) expect(s.leftAfter).toBe(0n);
  // An item after the first of a slice started only while the share was not spent.
  for (const s of slices) if (s.items > 1) expect(s.leftBeforeLast).toBeGreaterThan(0n);
  for (let i = 1; i < slices.length; i++) expect(slices[i]!.iteration).toBeGreaterThan(slices[i - 1]!.iteration);
}

const ownerTypes = (name: string) =>
  snapshot()
    .filter((h) => h.owner === name)
    .map((h) => h.type)
    .sort();

describe('a paced C module', () => {
  it('wraps up in slices of its share: one item, then more while budget_left says so, the rest in later iterations', async () => {
    const c = coordinator({ budgetMs: 0.5 });
    const { name, log } = await loadPaced(c, 'cpaced-slices-', { records: 100, timers: 100, itemUs: 100 });
    const report = await c.unload(name, { timeoutMs: 60_000 });
    expect(report.removed).toBe(true);
    expect(report.pacing).toEqual({ budgetMs: 0.5, waiting: 0, itemsLeft: null });
    const { slices } = readLog(log);
    expectHonoured(slices, 200);
    // 200 items of 0.1 ms with a 0.5 ms share: no slice can hold them all.
    expect(slices.length).toBeGreaterThan(1);
    for (const s of slices) expect(s.items).toBeLessThan(200);
    expect(countsFor(name)).toMatchObject({ total: 0, requests: 0 });
    await c.quit();
  });

  it("answers budget_left with UV_DRAIN_UNPACED and does it all at once with budgetMs: Infinity", async () => {
    const c = coordinator({ budgetMs: Infinity });
    const { name, log } = await loadPaced(c, 'cpaced-inf-', { timers: 300, itemUs: 10 });
    const report = await c.unload(name);
    expect(report.removed).toBe(true);
    const { slices } = readLog(log);
    expect(slices).toHaveLength(1);
    expect(slices[0]).toMatchObject({ items: 300, leftBeforeLast: UNPACED, leftAfter: UNPACED });
    await c.quit();
  });

  it('counts its waiting continuation as its own: two handles of uv-drain tagged with its owner, gone once it ran', async () => {
    const c = coordinator({ budgetMs: 0.3 });
    const { name, log } = await loadPaced(c, 'cpaced-own-', { records: 400, timers: 0, itemUs: 200 });
    // Records only: once cleanup ran, what the owner holds is the continuation's handles.
    const unloading = c.unload(name, { timeoutMs: 60_000 });
    await until(() => ownerTypes(name).length > 0, 'the continuation handles');
    expect(ownerTypes(name)).toEqual(['check', 'idle']);
    const mine = snapshot().filter((h) => h.owner === name);
    expect(mine.every((h) => h.active && h.ref && h.module?.endsWith('uv_drain.node'))).toBe(true);
    expect(countsFor(name).total).toBe(2);
    expect(c.has(name)).toBe(true);
    const report = await unloading;
    expect(report.removed).toBe(true);
    expect(ownerTypes(name)).toEqual([]);
    expect(readLog(log).slices.length).toBeGreaterThan(1);
    await c.quit();
  });

  it('stays loaded when the deadline fires mid-way, says a continuation is waiting, and goes on to finish', async () => {
    const c = coordinator({ budgetMs: 0.2 });
    const { name, log } = await loadPaced(c, 'cpaced-deadline-', { records: 1500, timers: 50, itemUs: 100 });
    const error = await rejection(c.unload(name, { timeoutMs: 30 }));
    expect(error).toBeInstanceOf(UnloadTimeoutError);
    const { report } = error as UnloadTimeoutError;
    expect(report.removed).toBe(false);
    expect(report.pacing).toEqual({ budgetMs: 0.2, waiting: 1, itemsLeft: null });
    expect(c.has(name)).toBe(true);
    // Its paced work goes on, still paced; a second unload removes it once done.
    const atDeadline = readLog(log).slices.length;
    const second = await c.unload(name, { timeoutMs: 60_000 });
    expect(second.removed).toBe(true);
    const { slices } = readLog(log);
    expect(slices.length).toBeGreaterThan(atDeadline);
    expectHonoured(slices, 1550);
    await c.quit();
  });

  it('unloads as today when it never paces (everything closed in its cleanup)', async () => {
    const c = coordinator({ budgetMs: 0.1 });
    const { name, log } = await loadPaced(c, 'cpaced-once-', { timers: 200, itemUs: 10, mode: 'once' });
    const report = await c.unload(name);
    expect(report.removed).toBe(true);
    expect(report.pacing.waiting).toBe(0);
    expect(readLog(log).slices).toEqual([]); // one slice, not logged: nothing was asked
    await c.quit();
  });

  it('shares one budget between two C modules unloaded at once, each moving in the same iterations', async () => {
    const c = coordinator({ budgetMs: 0.6 });
    const a = await loadPaced(c, 'cpaced-share-a-', { records: 300, timers: 0, itemUs: 100 });
    const b = await loadPaced(c, 'cpaced-share-b-', { records: 300, timers: 0, itemUs: 100 });
    const names = [a.name, b.name];
    const reports = await Promise.all(names.map((n) => c.unload(n, { timeoutMs: 60_000 })));
    expect(reports.map((r) => r.removed)).toEqual([true, true]);
    const [la, lb] = [readLog(a.log).slices, readLog(b.log).slices];
    expectHonoured(la, 300);
    expectHonoured(lb, 300);
    // Both wrap up side by side: while both have work, they move in the same iterations (not one after the other).
    const last = Math.min(la[la.length - 1]!.iteration, lb[lb.length - 1]!.iteration);
    const movesA = new Set(la.map((s) => s.iteration).filter((i) => i < last));
    const movesB = new Set(lb.map((s) => s.iteration).filter((i) => i < last));
    expect(movesA.size).toBeGreaterThan(1);
    expect([...movesA].filter((i) => movesB.has(i)).length).toBeGreaterThan(0);
    await c.quit();
  });

  it('gets UV_EINVAL for a NULL continuation, and UV_EPERM and a spent budget off the loop thread', async () => {
    const c = coordinator();
    const { name, log } = await loadPaced(c, 'cpaced-bad-', { timers: 1 });
    expect(readLog(log).init).toEqual({ nullRc: UV_EINVAL, threadRc: UV_EPERM, threadLeft: 0n });
    await c.unload(name);
    await c.quit();
  });
});

describe('the binding with a paced C module', () => {
  it('refuses to dlclose while a continuation is pending (its function is module code), and closes once it ran', async () => {
    const { so, log } = pacedCopy('cpaced-close-');
    setKnobs({ records: 50, timers: 3, itemUs: 100, log });
    const name = uniqueName('cpaced-close-');
    const id = binding.ownerId(name);
    const h = cModule.open(so, 'paced', id, name);
    try {
      expect(cModule.init(h)).toBe(0);
      // Paced as an unload would pace it, without a coordinator.
      binding.paceShare(id, 200_000);
      expect(cModule.cleanup(h)).toBe(0);
      expect(cModule.pacedPending(h)).toBe(1);
      const busy = thrown(() => cModule.close(h)) as Error & { code: string; continuations: number };
      expect(busy).toMatchObject({ code: 'UVD_ERR_MODULE_BUSY', continuations: 1 });
      expect(busy.message).toMatch(/1 continuation\(s\) pending/);
      await until(() => cModule.deinit(h) === 0 && countsFor(name).total === 0, 'the module to finish');
      expect(cModule.pacedPending(h)).toBe(0);
      cModule.close(h);
      expect(fs.readFileSync('/proc/self/maps', 'utf8').includes(so)).toBe(false);
      expectHonoured(readLog(log).slices, 53);
    } finally {
      binding.paceShare(id, Infinity);
    }
  });
});

describe('a C module whose init fails with its timers still closing', () => {
  it('is not registered, stays mapped while its close callbacks are pending, and is dlclosed once they ran', async () => {
    const { so } = pacedCopy('cpaced-initfail-');
    setKnobs({ timers: 500, itemUs: 0 });
    process.env.UVD_PACED_INIT_FAIL = '1';
    try {
      const c = coordinator();
      const name = uniqueName('cpaced-initfail-');
      const mapped = () => fs.readFileSync('/proc/self/maps', 'utf8').includes(so);
      const error = await rejection(c.load(name, { native: so, symbols: 'paced' }));
      expect(error).toBeInstanceOf(ModuleInitError);
      expect(c.has(name)).toBe(false);
      // Its timers are closing: their close callbacks are module code.
      expect(countsFor(name)).toMatchObject({ total: 500, closing: 500 });
      expect(mapped()).toBe(true);
      await until(() => !mapped(), 'the module to be dlclosed');
      expect(countsFor(name).total).toBe(0);
      await c.quit();
    } finally {
      delete process.env.UVD_PACED_INIT_FAIL;
    }
  });
});

describe('a v1 C module (its context type ends at data)', () => {
  it('loads, works and unloads as before: the context grew behind the fields it reads', async () => {
    const c = coordinator();
    const name = uniqueName('old-ctx-');
    await c.load(name, { native: OLD_SO, symbols: 'old_ctx' });
    expect(fx.moduleQuery(OLD_SO, 'old_ctx_seen_size', 'u64')).toBeGreaterThan(fx.moduleQuery(OLD_SO, 'old_ctx_v1_size', 'u64'));
    expect(ownerTypes(name)).toEqual(['timer']);
    const report = await c.unload(name, { budgetMs: 0.1 });
    expect(report.removed).toBe(true);
    expect(report.pacing.waiting).toBe(0);
    await c.quit();
  });
});

describe('a paced C module in a worker thread', () => {
  it("paces on the worker's loop; the worker ends by itself once the module is removed", async () => {
    const { so, log } = pacedCopy('cpaced-worker-');
    // The module reads the process environment (getenv), not the worker's copy.
    setKnobs({ records: 100, timers: 100, itemUs: 100, log });
    const worker = new Worker(WORKER, { workerData: { so, mode: 'unload' } });
    // Listened for from the start: Node may emit 'exit' in the same callback as the last 'message'.
    const exited = once(worker, 'exit');
    const [result] = (await once(worker, 'message')) as [{ removed: boolean; waiting: number }];
    const [exitCode] = await exited;
    expect(result).toEqual({ removed: true, waiting: 0 });
    expect(exitCode).toBe(0);
    const { slices } = readLog(log);
    expectHonoured(slices, 200);
    expect(slices.length).toBeGreaterThan(1);
  });

  it('drops a pending continuation and closes its handles when the worker is terminated mid-way', async () => {
    const { so, log } = pacedCopy('cpaced-term-');
    setKnobs({ records: 100_000, timers: 0, itemUs: 50, log });
    const worker = new Worker(WORKER, { workerData: { so, mode: 'terminate' } });
    const [msg] = (await once(worker, 'message')) as [{ handles: string[] }];
    expect(msg.handles).toEqual(['check', 'idle']);
    const exit = once(worker, 'exit');
    await worker.terminate();
    await exit;
    // The worker's loop closed (nothing of ours left on it) and the process lives on.
    const { slices } = readLog(log);
    expect(slices.length).toBeGreaterThan(0);
    expect(slices.reduce((n, s) => n + s.items, 0)).toBeLessThan(100_000);
  });
});
