// UnloadCoordinator.quit(): the cleanup event to every module, each drained,
// verified and removed, and then the process ends by itself. The end of a
// process can only be observed from outside, so the main cases run in child
// processes (test/scripts/quit-*.mjs) that never call process.exit: four
// modules (the JS commit module as an object, an ES file and a CommonJS
// file, and the C commit module) quit while outside clients keep asking for
// commits, in reverse and in parallel order; and a quit while a handle of no
// module holds the loop. The rest (order of events, deadlines, failures)
// runs in-process with real servers.
import { createHook } from 'node:async_hooks';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  QuitError,
  UnloadCoordinator,
  UnloadTimeoutError,
  trackOwners,
  type QuitReport,
  type UnloadReport,
} from '../dist/index.js';
import { baselinePerTest, closeAfterTest, coordinator, quitCoordinators, rejection, serverModule, uniqueName } from './helpers.js';

// The same instance as the one dist/index.js uses (an ESM import of a dist
// file from a test is evaluated apart from it).
const { isTracking } = createRequire(import.meta.url)('../dist/owner-scopes.js') as { isTracking(): boolean };
const root = fileURLToPath(new URL('..', import.meta.url));
const SCRIPTS = path.join(root, 'test', 'scripts');
const NOTHING = { total: 0, active: 0, ref: 0, closing: 0, requests: 0, timers: 0 };

const fresh = (what: string) => uniqueName(`quit-${what}-`);

const tmpDirs: string[] = [];
let failures: unknown[] = [];

baselinePerTest({
  async tidy() {
    ({ failures } = await quitCoordinators());
    for (const d of tmpDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  },
  verify: () => expect(failures).toEqual([]),
});

// ---------------------------------------------------------------------------

interface Child {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

function runScript(script: string, args: string[]): Promise<Child> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(SCRIPTS, script), ...args],
      { timeout: 60_000, maxBuffer: 64 << 20 },
      (error, stdout, stderr) => {
        const e = error as (Error & { code?: number; signal?: string }) | null;
        resolve({
          code: e === null ? 0 : typeof e.code === 'number' ? e.code : null,
          signal: e?.signal ?? null,
          stdout,
          stderr,
        });
      },
    );
  });
}

function tagged<T>(child: Child, tag: string): T {
  const found = child.stdout.split('\n').find((l) => l.startsWith(`${tag} `));
  if (found === undefined) throw new Error(`no ${tag} line in:\n${child.stdout}\n${child.stderr}`);
  return JSON.parse(found.slice(tag.length + 1)) as T;
}

interface QuitOutput {
  order: string;
  loadOrder: string[];
  report: Omit<QuitReport, 'failed'> & { failed: { name: string; message: string }[] };
  js: Record<string, { file: string; acked: string[]; nacked: string[]; error: string }>;
  c: { file: string; acked: number; mappedAfter: boolean };
  events: [string, string][];
}

function lines(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  expect(text === '' || text.endsWith('\n')).toBe(true);
  return text.split('\n').filter(Boolean);
}

/** Runs quit-modules.mjs with `order` in a fresh temp dir. */
async function quitModules(order: 'reverse' | 'parallel'): Promise<{ child: Child; out: QuitOutput }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `uv-drain-quit-${order}-`));
  tmpDirs.push(dir);
  const child = await runScript('quit-modules.mjs', [order, dir]);
  expect(child.signal, child.stderr).toBeNull();
  expect(child.code, child.stdout + child.stderr).toBe(0);
  return { child, out: tagged<QuitOutput>(child, 'UVD-QUIT') };
}

/** What every module committed is on disk: the JS modules' acknowledged ids, the C module's count. */
function expectEveryCommitOnDisk(out: QuitOutput): void {
  for (const [name, js] of Object.entries(out.js)) {
    expect(js.error, name).toBe('');
    expect(js.acked.length, name).toBeGreaterThanOrEqual(20);
    const onDisk = new Set(lines(js.file));
    expect(js.acked.filter((id) => !onDisk.has(id)), name).toEqual([]);
    expect(js.nacked.filter((id) => onDisk.has(id)), name).toEqual([]);
  }
  expect(out.c.acked).toBeGreaterThanOrEqual(3);
  expect(lines(out.c.file).map(Number)).toEqual(Array.from({ length: out.c.acked }, (_, i) => i + 1));
}

function expectAllRemoved(out: QuitOutput): void {
  expect(out.report.failed).toEqual([]);
  expect(out.report.modules.map((m) => m.name).sort()).toEqual([...out.loadOrder].sort());
  for (const m of out.report.modules) {
    expect(m, m.name).toMatchObject({ removed: true, lastDeinit: 'done' });
    expect(m.left, m.name).toEqual({ counts: NOTHING, handles: [], callbacksInside: [] });
  }
  expect(out.c.mappedAfter).toBe(false);
}

describe('quit() in a child process with four modules while commits flow', () => {
  it('the scripts and the library never call process.exit', () => {
    const exits = /process\s*\.\s*(exit|reallyExit|abort)\s*\(|process\s*\.\s*exitCode\s*=/;
    const files = [
      ...fs.readdirSync(SCRIPTS).filter((f) => /^quit-.*\.mjs$/.test(f)).map((f) => path.join(SCRIPTS, f)),
      ...['commit-core.cjs', 'commit.cjs', 'commit.mjs', 'driver.cjs'].map((f) => path.join(root, 'test', 'modules', f)),
      ...fs.readdirSync(path.join(root, 'dist')).filter((f) => /\.m?js$/.test(f)).map((f) => path.join(root, 'dist', f)),
    ];
    expect(files.some((f) => f.endsWith('quit-modules.mjs'))).toBe(true);
    expect(files.filter((f) => exits.test(fs.readFileSync(f, 'utf8')))).toEqual([]);
  });

  it('reverse order: the child exits by itself with code 0 and every module removed', async () => {
    const { out } = await quitModules('reverse');
    expectAllRemoved(out);
    expect(out.report.holding).toEqual([]);
  });

  it('reverse order: every acknowledged commit is on disk', async () => {
    const { out } = await quitModules('reverse');
    expectEveryCommitOnDisk(out);
  });

  it('reverse order: modules are unloaded one at a time, last loaded first', async () => {
    const { out } = await quitModules('reverse');
    const reversed = [...out.loadOrder].reverse();
    expect(out.report.modules.map((m) => m.name)).toEqual(reversed);
    const unloading = out.events.filter(([e]) => e !== 'load');
    expect(unloading).toEqual(
      reversed.flatMap((name) => [
        ['cleanup', name],
        ['drained', name],
        ['unloaded', name],
      ]),
    );
  });

  it('parallel order: the child exits by itself with code 0, every module removed, nothing holding', async () => {
    const { out } = await quitModules('parallel');
    expectAllRemoved(out);
    expect(out.report.holding).toEqual([]);
  });

  it('parallel order: every acknowledged commit is on disk', async () => {
    const { out } = await quitModules('parallel');
    expectEveryCommitOnDisk(out);
  });

  it('parallel order: every module gets the cleanup event before any is drained', async () => {
    const { out } = await quitModules('parallel');
    const unloading = out.events.filter(([e]) => e !== 'load');
    expect(unloading.slice(0, 4).map(([e]) => e)).toEqual(['cleanup', 'cleanup', 'cleanup', 'cleanup']);
    expect(unloading.slice(0, 4).map(([, n]) => n).sort()).toEqual([...out.loadOrder].sort());
    expect(unloading.filter(([e]) => e === 'unloaded').map(([, n]) => n).sort()).toEqual(
      [...out.loadOrder].sort(),
    );
  });
});

describe('quit() while a handle of no module holds the loop (child process)', () => {
  it("lists the unowned server in the report's holding, and the child exits 0 once it closes it", async () => {
    const child = await runScript('quit-holding.mjs', []);
    expect(child.signal).toBeNull();
    expect(child.code, child.stdout + child.stderr).toBe(0);
    const out = tagged<{ report: QuitReport; unownedFd: number }>(child, 'UVD-HOLDING');
    expect(out.report.failed).toEqual([]);
    expect(out.report.modules.map((m: UnloadReport) => [m.name, m.removed])).toEqual([['module-with-server', true]]);
    expect(out.report.holding).toEqual([
      expect.objectContaining({ type: 'tcp', owner: null, fd: out.unownedFd, active: true, ref: true, closing: false }),
    ]);
  });
});

// ---------------------------------------------------------------------------

describe('quit() in-process', () => {
  it('with no module loaded resolves with no module and no failure', async () => {
    const c = coordinator();
    const report = await c.quit();
    expect(report.modules).toEqual([]);
    expect(report.failed).toEqual([]);
    expect(Array.isArray(report.holding)).toBe(true);
  });

  it('called twice returns the same promise', async () => {
    const c = coordinator();
    await c.load(fresh('once'), serverModule());
    const first = c.quit();
    expect(c.quit()).toBe(first);
    expect((await first).modules).toHaveLength(1);
  });

  it('lists in holding a server of no module, and not the servers of removed modules', async () => {
    const c = coordinator();
    const unowned = closeAfterTest(net.createServer());
    unowned.listen(0, '127.0.0.1');
    await once(unowned, 'listening');
    const fd = (unowned as unknown as { _handle: { fd: number } })._handle.fd;
    const mod = serverModule();
    await c.load(fresh('holding'), mod);
    const moduleFd = (mod.server as unknown as { _handle: { fd: number } })._handle.fd;
    const report = await c.quit();
    const tcp = report.holding.filter((h) => h.type === 'tcp');
    expect(tcp).toContainEqual(expect.objectContaining({ fd, owner: null, active: true, ref: true }));
    expect(tcp.some((h) => h.fd === moduleFd)).toBe(false);
  });

  it('turns owner tracking back to what it was before the first load', async () => {
    trackOwners(false);
    const c = coordinator();
    await c.load(fresh('tracking'), {});
    expect(isTracking()).toBe(true);
    await c.quit();
    expect(isTracking()).toBe(false);
  });

  it('rejects with UnloadTimeoutError on its deadline, naming the module that did not drain, which stays loaded', async () => {
    const c = coordinator();
    const good = fresh('good');
    const stuck = fresh('stuck');
    let free = false;
    const stuckModule = serverModule({ cleanup() {}, deinit: () => (free ? 'done' : 'again') });
    // Loaded first, unloaded last (reverse order): the good one is removed before the deadline.
    await c.load(stuck, stuckModule);
    await c.load(good, serverModule());
    const err = await rejection(c.quit({ timeoutMs: 100 }));
    expect(err).toBeInstanceOf(UnloadTimeoutError);
    const report = err.report as QuitReport;
    expect(report.failed.map((f) => f.name)).toEqual([stuck]);
    expect(report.failed[0].error).toBeInstanceOf(UnloadTimeoutError);
    expect(report.modules.map((m) => [m.name, m.removed])).toEqual([
      [good, true],
      [stuck, false],
    ]);
    expect(c.names).toEqual([stuck]);

    void stuckModule.release();
    free = true;
    expect((await c.unload(stuck)).removed).toBe(true);
  });

  it('rejects with QuitError when a deinit throws, after removing the other modules', async () => {
    const c = coordinator();
    const good = fresh('fine');
    const bad = fresh('throws');
    let broken = true;
    await c.load(good, serverModule());
    await c.load(
      bad,
      serverModule({
        deinit: () => {
          if (broken) throw new Error('deinit broke');
          return 'done';
        },
      }),
    );
    const err = await rejection(c.quit());
    expect(err).toBeInstanceOf(QuitError);
    expect(err.code).toBe('UVD_ERR_QUIT');
    expect(err.message).toContain(bad);
    const report = err.report as QuitReport;
    expect(report.failed.map((f) => [f.name, f.error.message])).toEqual([[bad, expect.stringContaining('deinit broke')]]);
    expect(c.names).toEqual([bad]);
    broken = false;
    expect((await c.unload(bad)).removed).toBe(true);
  });

  /** Loads `name` with an init that waits for finishInit(); resolves `called` once init runs. */
  function slowLoad(c: UnloadCoordinator, name: string) {
    let initCalled!: () => void;
    const called = new Promise<void>((resolve) => (initCalled = resolve));
    let finishInit!: () => void;
    const loading = c.load(name, {
      init: () => {
        initCalled();
        return new Promise<void>((resolve) => (finishInit = resolve));
      },
    });
    return { loading, called, finish: () => finishInit() };
  }

  it('waits for a load under way before unloading, and unloads that module too', async () => {
    const c = coordinator();
    const name = fresh('slow-init');
    const slow = slowLoad(c, name);
    const quitting = c.quit();
    await slow.called;
    slow.finish();
    await slow.loading;
    const report = await quitting;
    expect(report.modules.map((m) => [m.name, m.removed])).toEqual([[name, true]]);
    expect(c.names).toEqual([]);
  });

  it('does not spin the loop while it waits for a load under way', async () => {
    const c = coordinator();
    const slow = slowLoad(c, fresh('slow-init-spin'));
    const quitting = c.quit();
    await slow.called;
    // Count the immediates made while the load is under way (an unowned
    // timer ends it): waiting on the load must not poll with setImmediate.
    let immediates = 0;
    const hook = createHook({
      init(_id, type) {
        if (type === 'Immediate') immediates++;
      },
    }).enable();
    await new Promise<void>((resolve) => setTimeout(resolve, 100));
    hook.disable();
    slow.finish();
    await slow.loading;
    await quitting;
    expect(immediates).toBeLessThan(10);
  });
});
