// Fault injection for the UnloadCoordinator, with real modules, real handles
// and a real loopback echo server: modules that throw or reject in each
// lifecycle step, hang, never drain, answer garbage, re-enter the
// coordinator from their own callbacks; quit racing unloads; a worker
// terminated while its module drains. Every case must end with a clear error
// or report (never a hang: each wait is bounded by a guard far above the
// deadline under test), the process must keep serving (the echo server
// answers after every case) and nothing may leak (the loop is back at its
// baseline after every case).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DrainTimeoutError,
  ModuleDeinitError,
  ModuleInitError,
  QuitError,
  QuittingError,
  UnknownModuleError,
  UnloadCoordinator,
  UnloadTimeoutError,
  countsFor,
  snapshot,
  trackOwners,
  whenDrained,
  withOwner,
  type JsModule,
  type QuitReport,
  type UnloadReport,
} from '../dist/index.js';
import { baselinePerTest, closeServer, rejection, settle, uniqueName, until, within } from './helpers.js';

const TOPLEVEL_THROW = fileURLToPath(new URL('./modules/fault-toplevel-throw.mjs', import.meta.url));
const WORKER_SCRIPT = fileURLToPath(new URL('./scripts/fault-worker-terminate.mjs', import.meta.url));

/** Generous bound on any wait: a coordinator that hangs fails here instead of hanging the suite. */
const GUARD_MS = 10_000;

const fresh = (what: string) => uniqueName(`fault:${what}:`);

async function resolution<T>(p: Promise<T>): Promise<T> {
  const outcome = await within(p, GUARD_MS);
  if (outcome === 'hung') throw new Error(`still pending after ${GUARD_MS} ms`);
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}

const listening = () => net.createServer().listen(0);

/**
 * A module with one TCP server; cleanup closes it (unless `keep()` says not
 * to). Not helpers' serverModule(): init listens synchronously (every
 * interface, no wait for 'listening'), the test's own cleanup runs after
 * this one rather than instead of it, and cleanups and deinits are counted.
 */
function countedServerModule(extra: Partial<JsModule> & { keep?: () => boolean } = {}) {
  const state: { server?: net.Server; cleanups: number; deinits: number } = { cleanups: 0, deinits: 0 };
  const module: JsModule = {
    init() {
      state.server = listening();
    },
    cleanup(ctx) {
      state.cleanups++;
      if (!(extra.keep?.() ?? false)) void closeServer(state.server);
      return extra.cleanup?.(ctx);
    },
  };
  if (extra.deinit !== undefined) {
    module.deinit = (ctx) => {
      state.deinits++;
      return extra.deinit!(ctx);
    };
  }
  return { module, state };
}

// ---- the process keeps serving ------------------------------------------

let echo: net.Server;
let echoPort: number;
beforeAll(async () => {
  echo = net.createServer((socket) => socket.pipe(socket)).listen(0, '127.0.0.1');
  await once(echo, 'listening');
  echoPort = (echo.address() as net.AddressInfo).port;
});
afterAll(async () => {
  await closeServer(echo);
});

function echoOnce(text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(echoPort, '127.0.0.1');
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      data += d;
      if (data === text) socket.end();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(data));
    socket.write(text);
  });
}

baselinePerTest({
  async tidy() {
    trackOwners(false);
    const text = uniqueName('still serving ');
    expect(await resolution(echoOnce(text))).toBe(text);
  },
});

// ---- throwing and rejecting in each lifecycle step ------------------------

const HOW = [
  ['a synchronous throw', false],
  ['an asynchronous rejection', true],
] as const;

describe.each(HOW)('init fails with %s', (_how, async) => {
  it('load rejects with ModuleInitError listing what init left; it is released once closed; the name loads again', async () => {
    const c = new UnloadCoordinator({ timeoutMs: 5_000 });
    const name = fresh('init');
    const boom = new Error('fault: init failed');
    let server: net.Server | undefined;
    const error = await rejection(
      c.load(name, {
        init() {
          server = listening();
          if (!async) throw boom;
          return sleep(1).then(() => Promise.reject(boom));
        },
      }),
      GUARD_MS,
    );
    expect(error).toBeInstanceOf(ModuleInitError);
    expect(error).toMatchObject({ code: 'UVD_ERR_MODULE_INIT', moduleName: name, cause: boom });
    expect(error.message).toContain('fault: init failed');
    expect(error.report.left.handles).toMatchObject([{ type: 'tcp', active: true, closing: false }]);
    expect(c.has(name)).toBe(false);
    expect(c.names).toEqual([]);

    await closeServer(server);
    await until(() => countsFor(name).total === 0, `${name} to drain`);
    await c.load(name, countedServerModule().module);
    expect(c.names).toEqual([name]);
    expect(await resolution(c.unload(name))).toMatchObject({ removed: true });
    await resolution(c.quit());
  });
});

describe.each(HOW)('cleanup fails with %s', (_how, async) => {
  it('the failure is reported (cleanupError, error event) and the module is still drained and removed', async () => {
    const c = new UnloadCoordinator({ timeoutMs: 5_000 });
    const name = fresh('cleanup');
    const errors: [unknown, string][] = [];
    c.on('error', (error, module) => errors.push([error, module]));
    const boom = new Error('fault: cleanup failed');
    const { module } = countedServerModule({
      cleanup: () => {
        if (!async) throw boom;
        return sleep(1).then(() => Promise.reject(boom));
      },
    });
    await c.load(name, module);
    const report = await resolution(c.unload(name));
    expect(report).toMatchObject({ removed: true, cleanupReturned: true, cleanupError: 'fault: cleanup failed' });
    expect(report.left.counts).toMatchObject({ total: 0, requests: 0, timers: 0 });
    expect(errors).toEqual([[boom, name]]);
    expect(c.has(name)).toBe(false);
    await resolution(c.quit());
  });

  it('a cleanup that fails before letting go: UnloadTimeoutError with cleanupError, the module stays and unloads later', async () => {
    const c = new UnloadCoordinator({ timeoutMs: 5_000 });
    const name = fresh('cleanup-holding');
    let failing = true;
    const { module, state } = countedServerModule({
      keep: () => failing,
      cleanup: () => {
        if (!failing) return undefined;
        if (!async) throw new Error('fault: cleanup failed early');
        return Promise.reject(new Error('fault: cleanup failed early'));
      },
    });
    await c.load(name, module);
    const error = await rejection(c.unload(name, { timeoutMs: 300 }), GUARD_MS);
    expect(error).toBeInstanceOf(UnloadTimeoutError);
    expect(error.report).toMatchObject({ removed: false, cleanupError: 'fault: cleanup failed early' });
    expect(error.report.left.handles).toMatchObject([{ type: 'tcp', active: true }]);
    expect(c.has(name)).toBe(true);
    expect(state.server!.listening).toBe(true);

    failing = false;
    expect(await resolution(c.unload(name))).toMatchObject({ removed: true });
    expect(state.cleanups).toBe(2);
    await resolution(c.quit());
  });
});

describe.each(HOW)('deinit fails with %s', (_how, async) => {
  it('unload rejects with ModuleDeinitError, the module stays loaded and a later unload removes it', async () => {
    const c = new UnloadCoordinator({ timeoutMs: 5_000 });
    const name = fresh('deinit');
    const boom = new Error('fault: deinit failed');
    let failing = true;
    const { module, state } = countedServerModule({
      deinit: () => {
        if (!failing) return 'done';
        if (!async) throw boom;
        return sleep(1).then(() => Promise.reject(boom));
      },
    });
    await c.load(name, module);
    const error = await rejection(c.unload(name), GUARD_MS);
    expect(error).toBeInstanceOf(ModuleDeinitError);
    expect(error).toMatchObject({ code: 'UVD_ERR_MODULE_DEINIT', moduleName: name, cause: boom });
    expect(error.message).toContain('fault: deinit failed');
    expect(error.report).toMatchObject({ removed: false, deinitCalls: 1 });
    expect(c.has(name)).toBe(true);

    failing = false;
    expect(await resolution(c.unload(name))).toMatchObject({ removed: true, lastDeinit: 'done' });
    expect(state.deinits).toBeGreaterThanOrEqual(2);
    await resolution(c.quit());
  });
});

describe('a deinit answering garbage', () => {
  const answers: [string, () => unknown][] = [
    ['undefined', () => undefined],
    ['null', () => null],
    ["'DONE'", () => 'DONE'],
    ["'yes'", () => 'yes'],
    ['0', () => 0],
    ['true', () => true],
    ['an object', () => ({ done: true })],
    ["['done']", () => ['done']],
    ['a promise of garbage', () => Promise.resolve('maybe')],
  ];
  it.each(answers)('%s: ModuleDeinitError with a TypeError cause, the module stays', async (_what, answer) => {
    const c = new UnloadCoordinator({ timeoutMs: 5_000 });
    const name = fresh('garbage');
    let garbage = true;
    const { module } = countedServerModule({ deinit: () => (garbage ? answer() : 'done') as 'done' });
    await c.load(name, module);
    const error = await rejection(c.unload(name), GUARD_MS);
    expect(error).toBeInstanceOf(ModuleDeinitError);
    expect(error.cause).toBeInstanceOf(TypeError);
    expect(error.message).toMatch(/deinit must answer 'done' or 'again'/);
    expect(c.has(name)).toBe(true);
    garbage = false;
    expect(await resolution(c.unload(name))).toMatchObject({ removed: true });
    await resolution(c.quit());
  });
});

// ---- hanging ------------------------------------------------------------------

describe('a module that hangs', () => {
  it('in cleanup (a promise that never settles): UnloadTimeoutError at the deadline, the module stays', async () => {
    const c = new UnloadCoordinator({ timeoutMs: 5_000 });
    const name = fresh('cleanup-hang');
    let hang = true;
    const { module, state } = countedServerModule({
      keep: () => hang,
      cleanup: () => (hang ? new Promise(() => {}) : undefined),
    });
    await c.load(name, module);
    const error = await rejection(c.unload(name, { timeoutMs: 200 }), GUARD_MS);
    expect(error).toBeInstanceOf(UnloadTimeoutError);
    expect(error.message).toMatch(/did not return from cleanup/);
    expect(error.report).toMatchObject({ removed: false, cleanupReturned: false, deinitCalls: 0 });
    expect(c.has(name)).toBe(true);
    expect(state.server!.listening).toBe(true);

    hang = false;
    expect(await resolution(c.unload(name))).toMatchObject({ removed: true });
    await resolution(c.quit());
  });

  it('in deinit (a promise that never settles): UnloadTimeoutError at the deadline, the module stays', async () => {
    const c = new UnloadCoordinator({ timeoutMs: 5_000 });
    const name = fresh('deinit-hang');
    let hang = true;
    const { module } = countedServerModule({ deinit: () => (hang ? new Promise(() => {}) : 'done') });
    await c.load(name, module);
    const error = await rejection(c.unload(name, { timeoutMs: 200 }), GUARD_MS);
    expect(error).toBeInstanceOf(UnloadTimeoutError);
    expect(error.report).toMatchObject({ removed: false, cleanupReturned: true, deinitCalls: 1 });
    expect(c.has(name)).toBe(true);

    hang = false;
    expect(await resolution(c.unload(name))).toMatchObject({ removed: true });
    await resolution(c.quit());
  });

  it('in init, then quit: quit settles by its own deadline and does not spin the CPU meanwhile', async () => {
    const c = new UnloadCoordinator({ timeoutMs: 5_000 });
    const name = fresh('init-hang');
    let release!: () => void;
    const loading = settle(c.load(name, { init: () => new Promise<void>((resolve) => (release = resolve)) }));
    await sleep(1);
    const cpu = process.cpuUsage();
    const quitting = settle(c.quit({ timeoutMs: 200 }));
    const outcome = await within(quitting, 3_000);
    const used = process.cpuUsage(cpu);
    const cpuMs = Math.round((used.user + used.system) / 1000);
    release();
    await loading;
    const late = await within(quitting, GUARD_MS);
    if (c.has(name)) await settle(c.unload(name));
    // Settled (either way) well before the guard, and no busy loop while it waited.
    expect({ settled: outcome !== 'hung', busyLoop: cpuMs > 1_000 }).toEqual({ settled: true, busyLoop: false });
    expect(late).not.toBe('hung');
  });
});

// ---- never draining -------------------------------------------------------------

describe('a module that never drains', () => {
  it('holding a handle: UnloadTimeoutError naming it, stalled done-but-holding, the module stays', async () => {
    const c = new UnloadCoordinator({ timeoutMs: 5_000 });
    const name = fresh('holding');
    const stalls: UnloadReport[] = [];
    c.on('stalled', (report: UnloadReport) => stalls.push(report));
    let holding = true;
    const { module, state } = countedServerModule({ keep: () => holding });
    await c.load(name, module);
    const error = await rejection(c.unload(name, { timeoutMs: 300 }), GUARD_MS);
    expect(error).toBeInstanceOf(UnloadTimeoutError);
    expect(error.message).toMatch(/did not drain within 300 ms/);
    expect(error.report).toMatchObject({ removed: false, stalled: 'done-but-holding' });
    expect(error.report.left.handles).toMatchObject([{ type: 'tcp', active: true, ref: true, closing: false }]);
    expect(stalls.map((r) => [r.name, r.stalled])).toEqual([[name, 'done-but-holding']]);
    expect(c.has(name)).toBe(true);
    expect(state.server!.listening).toBe(true);

    holding = false;
    expect(await resolution(c.unload(name))).toMatchObject({ removed: true });
    await resolution(c.quit());
  });

  it("answering 'again' with nothing left: stalled again-with-nothing-left, not spun on, then UnloadTimeoutError", async () => {
    const c = new UnloadCoordinator({ timeoutMs: 5_000 });
    const name = fresh('again');
    let answer: 'again' | 'done' = 'again';
    const { module, state } = countedServerModule({ deinit: () => answer });
    await c.load(name, module);
    const error = await rejection(c.unload(name, { timeoutMs: 300 }), GUARD_MS);
    expect(error).toBeInstanceOf(UnloadTimeoutError);
    expect(error.report).toMatchObject({ removed: false, stalled: 'again-with-nothing-left', lastDeinit: 'again' });
    // deinit is asked again when the accounting changes, not in a loop.
    expect(state.deinits).toBeLessThan(10);
    answer = 'done';
    expect(await resolution(c.unload(name))).toMatchObject({ removed: true });
    await resolution(c.quit());
  });

  it('keeping a JS interval: UnloadTimeoutError counting the timer, the module stays', async () => {
    const c = new UnloadCoordinator({ timeoutMs: 5_000 });
    const name = fresh('interval');
    let interval: NodeJS.Timeout | undefined;
    await c.load(name, { init: () => void (interval = setInterval(() => {}, 50)) });
    const error = await rejection(c.unload(name, { timeoutMs: 300 }), GUARD_MS);
    expect(error).toBeInstanceOf(UnloadTimeoutError);
    expect(error.report.left.counts).toMatchObject({ total: 0, timers: 1 });
    expect(c.has(name)).toBe(true);
    clearInterval(interval);
    expect(await resolution(c.unload(name))).toMatchObject({ removed: true });
    await resolution(c.quit());
  });
});

// ---- a module file that throws at the top level -----------------------------------

describe('a module file whose top-level code throws', () => {
  it('load rejects with ModuleInitError listing what the top-level code left', async () => {
    const c = new UnloadCoordinator({ timeoutMs: 5_000 });
    const name = fresh('toplevel');
    const g = globalThis as { __uvDrainFaultServer?: net.Server };
    try {
      const error = await rejection(c.load(name, TOPLEVEL_THROW), GUARD_MS);
      expect(c.has(name)).toBe(false);
      // The server made by the top-level code is the module's ...
      expect(snapshot().filter((h) => h.owner === name)).toMatchObject([{ type: 'tcp' }]);
      // ... so the failure should be reported like any failed init.
      expect(error).toBeInstanceOf(ModuleInitError);
      expect(error.message).toContain('fault: top-level code threw');
      expect(error.report?.left?.handles).toMatchObject([{ type: 'tcp', active: true }]);
    } finally {
      await closeServer(g.__uvDrainFaultServer);
      await until(() => countsFor(name).total === 0, `${name} to drain`);
      await settle(c.quit());
    }
  });
});

// ---- re-entering the coordinator from a module's own callbacks ----------------------

describe('a module re-entering the coordinator', () => {
  it('unloads itself from its cleanup (not awaited): one cleanup, one unload, removed', async () => {
    const c = new UnloadCoordinator({ timeoutMs: 1_000 });
    const name = fresh('self-unload-cleanup');
    let entered = false;
    let inner: Promise<UnloadReport> | undefined;
    const { module, state } = countedServerModule({
      cleanup: (ctx) => {
        // Guarded against being called twice (else: unbounded recursion).
        if (entered) return;
        entered = true;
        inner = c.unload(ctx.name);
        void settle(inner);
      },
    });
    await c.load(name, module);
    const outer = c.unload(name);
    const outcome = await within(outer, GUARD_MS);
    await settle(inner!);
    const cleanups = state.cleanups;
    if (c.has(name)) await settle(c.unload(name, { timeoutMs: 1_000 }));
    expect(cleanups).toBe(1);
    expect(inner).toBe(outer);
    expect(outcome).toMatchObject({ ok: true, value: { removed: true } });
    await settle(c.quit());
  });

  it('calls quit() from its cleanup: one cleanup, the unload and the quit both end, removed', async () => {
    const c = new UnloadCoordinator({ timeoutMs: 1_000 });
    const name = fresh('quit-from-cleanup');
    let entered = false;
    let quitting: Promise<QuitReport> | undefined;
    const { module, state } = countedServerModule({
      cleanup: () => {
        // Guarded against being called twice (else: unbounded recursion).
        if (entered) return;
        entered = true;
        quitting = c.quit();
        void settle(quitting);
      },
    });
    await c.load(name, module);
    const outcome = await within(c.unload(name), GUARD_MS);
    const quit = await within(quitting!, GUARD_MS);
    const cleanups = state.cleanups;
    if (c.has(name)) await settle(c.unload(name, { timeoutMs: 1_000 }));
    expect(cleanups).toBe(1);
    expect(outcome).toMatchObject({ ok: true, value: { removed: true } });
    expect(quit).toMatchObject({ ok: true });
  });

  it('unloads itself from its deinit (not awaited): the same unload, removed', async () => {
    const c = new UnloadCoordinator({ timeoutMs: 5_000 });
    const name = fresh('self-unload-deinit');
    let inner: Promise<UnloadReport> | undefined;
    const { module, state } = countedServerModule({
      deinit: (ctx) => {
        inner ??= c.unload(ctx.name);
        return 'done';
      },
    });
    await c.load(name, module);
    const outer = c.unload(name);
    expect(await resolution(outer)).toMatchObject({ removed: true });
    expect(inner).toBe(outer);
    expect(state.cleanups).toBe(1);
    await resolution(c.quit());
  });

  it('awaits its own unload in deinit (a deadlock): UnloadTimeoutError, the module stays and unloads later', async () => {
    const c = new UnloadCoordinator({ timeoutMs: 5_000 });
    const name = fresh('self-await-deinit');
    let deadlock = true;
    const { module } = countedServerModule({
      deinit: async (ctx): Promise<'done'> => {
        if (deadlock) await c.unload(ctx.name);
        return 'done';
      },
    });
    await c.load(name, module);
    const error = await rejection(c.unload(name, { timeoutMs: 300 }), GUARD_MS);
    expect(error).toBeInstanceOf(UnloadTimeoutError);
    expect(c.has(name)).toBe(true);
    deadlock = false;
    expect(await resolution(c.unload(name))).toMatchObject({ removed: true });
    await resolution(c.quit());
  });

  it('loads another module from its init: both registered, each owns its own handles, quit removes both', async () => {
    const c = new UnloadCoordinator({ timeoutMs: 5_000 });
    const parent = fresh('parent');
    const child = fresh('child');
    const childMod = countedServerModule();
    const parentMod = countedServerModule();
    const parentInit = parentMod.module.init!;
    parentMod.module.init = async (ctx) => {
      await c.load(child, childMod.module);
      return parentInit(ctx);
    };
    await c.load(parent, parentMod.module);
    expect(c.names).toEqual([child, parent]);
    expect(countsFor(child)).toMatchObject({ total: 1, active: 1 });
    expect(countsFor(parent)).toMatchObject({ total: 1, active: 1 });
    const quit = await resolution(c.quit());
    expect(quit.modules.map((m) => [m.name, m.removed])).toEqual([
      [parent, true],
      [child, true],
    ]);
    expect(quit.failed).toEqual([]);
  });

  it('loads a successor from its cleanup: the successor owns its handles and stays, the module is removed', async () => {
    const c = new UnloadCoordinator({ timeoutMs: 5_000 });
    const name = fresh('predecessor');
    const successor = fresh('successor');
    const next = countedServerModule();
    const { module } = countedServerModule({ cleanup: () => c.load(successor, next.module) });
    await c.load(name, module);
    const report = await resolution(c.unload(name));
    expect(report).toMatchObject({ removed: true });
    expect(report.cleanupError).toBeUndefined();
    expect(c.names).toEqual([successor]);
    expect(countsFor(successor)).toMatchObject({ total: 1, active: 1 });
    expect(await resolution(c.quit())).toMatchObject({ failed: [] });
  });

  it('loads a successor from its cleanup during quit: QuittingError is the cleanupError, quit still ends', async () => {
    const c = new UnloadCoordinator({ timeoutMs: 5_000 });
    const name = fresh('predecessor-quit');
    const successor = fresh('successor-quit');
    let ran = false;
    const { module } = countedServerModule({
      cleanup: () => c.load(successor, { init: () => void (ran = true) }),
    });
    await c.load(name, module);
    const quit = await within(c.quit(), GUARD_MS);
    const slipped = c.names;
    for (const left of slipped) await settle(c.unload(left));
    expect(quit).toMatchObject({ ok: true });
    const report = (quit as { value: QuitReport }).value;
    // The load must be refused: a module loaded during quit would outlive it.
    expect(slipped).toEqual([]);
    expect(ran).toBe(false);
    expect(report.modules).toMatchObject([{ name, removed: true, cleanupError: expect.stringMatching(/quitting/) }]);
    expect(await rejection(c.load(successor, {}), GUARD_MS)).toBeInstanceOf(QuittingError);
  });

  it('unloads another module from its cleanup (awaited): both removed', async () => {
    const c = new UnloadCoordinator({ timeoutMs: 5_000 });
    const other = fresh('other');
    const name = fresh('unloader');
    await c.load(other, countedServerModule().module);
    await c.load(name, countedServerModule({ cleanup: () => c.unload(other) }).module);
    expect(await resolution(c.unload(name))).toMatchObject({ removed: true });
    expect(c.names).toEqual([]);
    await resolution(c.quit());
  });

  it('unloads another module from its cleanup (not awaited): both removed', async () => {
    const c = new UnloadCoordinator({ timeoutMs: 1_000 });
    const other = fresh('slow-other');
    const name = fresh('unloader-forget');
    let otherUnload: Promise<UnloadReport> | undefined;
    // The other module takes a little while (an owned timer) to let go.
    const slow = countedServerModule({ cleanup: () => sleep(20) });
    await c.load(other, slow.module);
    await c.load(
      name,
      countedServerModule({
        cleanup: () => {
          otherUnload = c.unload(other);
          void settle(otherUnload);
        },
      }).module,
    );
    const outcome = await within(c.unload(name), GUARD_MS);
    const otherOutcome = await within(otherUnload!, GUARD_MS);
    if (c.has(name)) await settle(c.unload(name));
    expect(otherOutcome).toMatchObject({ ok: true, value: { removed: true } });
    expect(outcome).toMatchObject({ ok: true, value: { removed: true } });
    await settle(c.quit());
  });
});

describe('the drain watcher when a JS timer is cleared from outside its owner', () => {
  it('whenDrained resolves once the owner’s last timer is cleared, even if another watch came and went meanwhile', async () => {
    const owner = fresh('cleared-timer');
    const timer = withOwner(owner, () => setTimeout(() => {}, 60_000));
    timer.unref();
    const drained = settle(whenDrained(owner, { timeoutMs: 2_000 }));
    await sleep(10);
    // What the coordinator does when another module's unload finishes: the
    // timer is cleared, then a watch stops (and the JS state is recomputed).
    clearTimeout(timer);
    await whenDrained(fresh('empty'));
    const keepAlive = setTimeout(() => {}, 3_000);
    const outcome = await drained;
    clearTimeout(keepAlive);
    expect(countsFor(owner)).toMatchObject({ total: 0, requests: 0, timers: 0 });
    if (!outcome.ok) expect(outcome.error).not.toBeInstanceOf(DrainTimeoutError);
    expect(outcome).toMatchObject({ ok: true, value: { owner } });
  });
});

// ---- quit while unloads are in flight ------------------------------------------------

describe('quit while unloads are in flight', () => {
  it.each(['reverse', 'parallel'] as const)(
    'order %s: quit includes the unloads under way and both sides get the same reports',
    async (order) => {
      const c = new UnloadCoordinator({ timeoutMs: 5_000 });
      const a = fresh('inflight-a');
      const b = fresh('inflight-b');
      // Each lets go a little later (from an owned timer), so its unload is in flight.
      const slow = () => {
        const mod = countedServerModule({ keep: () => true });
        mod.module.cleanup = () => void setTimeout(() => void closeServer(mod.state.server), 20);
        return mod;
      };
      const modA = slow();
      const modB = slow();
      await c.load(a, modA.module);
      await c.load(b, modB.module);
      const unloadA = c.unload(a);
      const unloadB = c.unload(b);
      const quit = await resolution(c.quit({ order }));
      const reportA = await resolution(unloadA);
      const reportB = await resolution(unloadB);
      expect(reportA).toMatchObject({ removed: true });
      expect(reportB).toMatchObject({ removed: true });
      expect(quit.failed).toEqual([]);
      expect(quit.modules).toHaveLength(2);
      expect(quit.modules).toContain(reportA);
      expect(quit.modules).toContain(reportB);
      expect(c.names).toEqual([]);
    },
  );

  it('an unload under way that times out: it rejects with UnloadTimeoutError, quit rejects naming the module', async () => {
    const c = new UnloadCoordinator({ timeoutMs: 5_000 });
    const name = fresh('inflight-timeout');
    let holding = true;
    const { module } = countedServerModule({ keep: () => holding });
    await c.load(name, module);
    const unloading = c.unload(name, { timeoutMs: 100 });
    const quitting = c.quit();
    const unloadError = await rejection(unloading, GUARD_MS);
    const quitError = await rejection(quitting, GUARD_MS);
    expect(unloadError).toBeInstanceOf(UnloadTimeoutError);
    expect(quitError).toBeInstanceOf(UnloadTimeoutError);
    expect(quitError.report.failed).toEqual([{ name, error: unloadError }]);
    expect(quitError.report.modules).toMatchObject([{ name, removed: false }]);
    expect(c.has(name)).toBe(true);
    // The coordinator is quitting, but the module can still be unloaded.
    holding = false;
    expect(await resolution(c.unload(name))).toMatchObject({ removed: true });
  });

  it('quit’s own deadline with a module that never drains: UnloadTimeoutError, the module stays', async () => {
    const c = new UnloadCoordinator({ timeoutMs: 5_000 });
    const name = fresh('quit-deadline');
    let holding = true;
    const { module } = countedServerModule({ keep: () => holding });
    await c.load(name, module);
    const error = await rejection(c.quit({ timeoutMs: 150 }), GUARD_MS);
    expect(error).toBeInstanceOf(UnloadTimeoutError);
    expect(error.report.failed.map((f: { name: string }) => f.name)).toEqual([name]);
    expect(c.has(name)).toBe(true);
    holding = false;
    expect(await resolution(c.unload(name))).toMatchObject({ removed: true });
  });

  it('unload + quit + unload racing: one unload per module, everything ends, then UnknownModule and Quitting errors', async () => {
    const c = new UnloadCoordinator({ timeoutMs: 5_000 });
    const a = fresh('race-a');
    const b = fresh('race-b');
    const modA = countedServerModule();
    const modB = countedServerModule();
    await c.load(a, modA.module);
    await c.load(b, modB.module);
    const first = c.unload(a);
    const quitting = c.quit();
    const second = c.unload(a);
    const third = c.unload(b);
    expect(second).toBe(first);
    expect(c.quit()).toBe(quitting);
    const quit = await resolution(quitting);
    expect(await resolution(first)).toMatchObject({ removed: true });
    expect(await resolution(third)).toMatchObject({ removed: true });
    expect(quit.failed).toEqual([]);
    expect(quit.modules.map((m) => m.name).sort()).toEqual([a, b].sort());
    expect(modA.state.cleanups).toBe(1);
    expect(modB.state.cleanups).toBe(1);
    expect(await rejection(c.unload(a), GUARD_MS)).toBeInstanceOf(UnknownModuleError);
    expect(await rejection(c.load(a, {}), GUARD_MS)).toBeInstanceOf(QuittingError);
  });

  it('quit rejects with QuitError when a module’s deinit fails, and reports the rest', async () => {
    const c = new UnloadCoordinator({ timeoutMs: 5_000 });
    const good = fresh('quit-good');
    const bad = fresh('quit-bad');
    let failing = true;
    await c.load(good, countedServerModule().module);
    await c.load(
      bad,
      countedServerModule({
        deinit: () => {
          if (failing) throw new Error('fault: deinit failed during quit');
          return 'done';
        },
      }).module,
    );
    const error = await rejection(c.quit(), GUARD_MS);
    expect(error).toBeInstanceOf(QuitError);
    expect(error.report.failed).toMatchObject([{ name: bad, error: { code: 'UVD_ERR_MODULE_DEINIT' } }]);
    expect(error.report.modules.map((m: UnloadReport) => [m.name, m.removed])).toEqual([
      [bad, false],
      [good, true],
    ]);
    failing = false;
    expect(await resolution(c.unload(bad))).toMatchObject({ removed: true });
  });
});

// ---- a worker terminated mid-drain ---------------------------------------------------

describe('a worker terminated while its module drains', () => {
  it('does not abort; the main thread keeps serving and owning what it owned; the process exits 0', async () => {
    // The abort this guards against (a binding call failing while the
    // worker's env stops) needs terminate to land in a narrow window, which
    // 'closing' hits most often: it runs 6 times per round.
    const reps = 10;
    const variants = ['cleanup-hang', 'never-drains', 'request-held', 'polling', 'exit', ...Array(6).fill('closing')];
    const child = spawn(process.execPath, [WORKER_SCRIPT, String(reps), variants.join(',')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
    expect({ code, signal, stderr: stderr.split('\n').slice(0, 3).join('\n') }).toEqual({ code: 0, signal: null, stderr: '' });
    const summary = JSON.parse(stdout.trim().split('\n').pop()!);
    expect(summary).toMatchObject({
      workers: variants.length * reps,
      echoes: variants.length * reps,
      problems: [],
      mainUnloaded: true,
      quitFailed: 0,
    });
    // Every variant was really mid-drain when terminated (exit code 1), and
    // 'exit' ended itself with process.exit(0) from deinit. The watcher is
    // there from the unload's start, cleanup included: it holds the loop.
    expect(summary.results).toEqual({
      'cleanup-hang:1:watcher=true,total=6': reps,
      'never-drains:1:watcher=true,total=6': reps,
      'request-held:1:watcher=true,total=6': reps,
      'polling:1:watcher=true,total=5006': reps,
      'exit:0:-': reps,
      'closing:1:watcher=true,total=2006': 6 * reps,
    });
  }, 60_000);
});
