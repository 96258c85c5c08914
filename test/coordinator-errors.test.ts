// The UnloadCoordinator's faults and bad input, with real modules: unknown
// names, concurrent unloads, loads during quit, duplicate names, init /
// cleanup / deinit that throw, dlopen failures of real shared objects, a
// module that never drains, and the typed 'error' event.
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ModuleDeinitError,
  ModuleExistsError,
  ModuleInitError,
  QuittingError,
  UnknownModuleError,
  UnloadCoordinator,
  UnloadTimeoutError,
  UvDrainError,
  countsFor,
  whenDrained,
  type UnloadReport,
} from '../dist/index.js';
import { FIXTURE_REALPATH, loadFixture, UV_EINVAL } from './fixture.js';
import { baselinePerTest, closeAfterTest, closeServer, coordinator, quitCoordinators, rejection, serverModule, uniqueName } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const COMMIT_SO = fs.realpathSync(path.join(root, 'build', 'Release', 'commit_module.so'));
const BAD_SO = fs.realpathSync(path.join(root, 'test', 'fixtures', 'build', 'Release', 'bad_abi_module.so'));
const NOTHING = { total: 0, active: 0, ref: 0, closing: 0, requests: 0, timers: 0 };

const fx = loadFixture();
const mapped = (file: string) => fs.readFileSync('/proc/self/maps', 'utf8').includes(file);

let dir: string;
const fresh = (what: string) => uniqueName(`${what}-`);

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uv-drain-coordinator-errors-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const rawHandles = new Set<string>();
let left: string[] = [];

baselinePerTest({
  async tidy() {
    for (const id of rawHandles) if (fx.isLive(id)) fx.close(id);
    rawHandles.clear();
    ({ left } = await quitCoordinators());
  },
  verify: () => expect(left).toEqual([]),
});

describe('names', () => {
  it('unload of a name that is not loaded rejects with UnknownModuleError', async () => {
    const c = coordinator();
    const err = await rejection(c.unload('nobody'));
    expect(err).toBeInstanceOf(UnknownModuleError);
    expect(err).toBeInstanceOf(UvDrainError);
    expect(err).toMatchObject({ code: 'UVD_ERR_UNKNOWN_MODULE', moduleName: 'nobody' });
    await c.quit();
  });

  it('loading a second module under a loaded name rejects with ModuleExistsError and keeps the first', async () => {
    const c = coordinator();
    const name = fresh('twice');
    let firstCleanups = 0;
    await c.load(name, { cleanup: () => void firstCleanups++ });
    const err = await rejection(c.load(name, { init: () => expect.fail('the second init must not run') }));
    expect(err).toBeInstanceOf(ModuleExistsError);
    expect(err).toMatchObject({ code: 'UVD_ERR_MODULE_EXISTS', moduleName: name });
    expect(c.names).toEqual([name]);
    expect((await c.unload(name)).removed).toBe(true);
    expect(firstCleanups).toBe(1);
    await c.quit();
  });

  it('loading a name whose init is still running rejects with ModuleExistsError', async () => {
    const c = coordinator();
    const name = fresh('loading');
    let finishInit!: () => void;
    const first = c.load(name, { init: () => new Promise<void>((resolve) => (finishInit = resolve)) });
    const err = await rejection(c.load(name, {}));
    expect(err).toBeInstanceOf(ModuleExistsError);
    finishInit();
    await first;
    expect(c.names).toEqual([name]);
    expect((await c.unload(name)).removed).toBe(true);
    await c.quit();
  });

  it('unload while the module is unloading returns the same promise', async () => {
    const c = coordinator();
    const name = fresh('same');
    const mod = serverModule();
    await c.load(name, mod);
    const first = c.unload(name);
    const second = c.unload(name);
    expect(second).toBe(first);
    expect((await first).removed).toBe(true);
    await c.quit();
  });

  it('load during quit rejects with QuittingError and does not run the module', async () => {
    const c = coordinator();
    const name = fresh('late');
    const quitting = c.quit();
    const err = await rejection(c.load(name, { init: () => expect.fail('init must not run') }));
    expect(err).toBeInstanceOf(QuittingError);
    expect(err).toMatchObject({ code: 'UVD_ERR_QUITTING', moduleName: name });
    expect(c.has(name)).toBe(false);
    await quitting;
  });
});

describe('init that throws', () => {
  it('rejects with ModuleInitError carrying the cause, and the module is not registered', async () => {
    const c = coordinator();
    const name = fresh('init-throws');
    const cause = new Error('init broke');
    const events: string[] = [];
    c.on('load', () => events.push('load'));
    const err = await rejection(
      c.load(name, {
        init() {
          throw cause;
        },
      }),
    );
    expect(err).toBeInstanceOf(ModuleInitError);
    expect(err).toMatchObject({ code: 'UVD_ERR_MODULE_INIT', moduleName: name });
    expect(err.cause).toBe(cause);
    expect(err.message).toContain('init broke');
    expect(c.has(name)).toBe(false);
    expect(c.names).toEqual([]);
    expect(events).toEqual([]);
    await c.quit();
  });

  it("lists the handles init made in the error's report, and they are released once closed", async () => {
    const c = coordinator();
    const name = fresh('init-leaves');
    let server!: net.Server;
    let raw = '';
    const err = await rejection(
      c.load(name, {
        async init(ctx) {
          server = closeAfterTest(net.createServer());
          server.listen(0, '127.0.0.1');
          await once(server, 'listening');
          raw = fx.create('timer', ctx.name);
          rawHandles.add(raw);
          fx.start(raw);
          throw new Error('init gave up half-way');
        },
      }),
    );
    expect(err).toBeInstanceOf(ModuleInitError);
    const report = err.report as UnloadReport;
    expect(report).toMatchObject({ name, removed: false, kind: 'js' });
    expect(report.left.counts).toMatchObject({ total: 2, active: 2, ref: 2, closing: 0 });
    const byType = Object.fromEntries(report.left.handles.map((h) => [h.type, h]));
    expect(Object.keys(byType).sort()).toEqual(['tcp', 'timer']);
    expect(byType.tcp).toMatchObject({ active: true, ref: true, closing: false, fd: (server as unknown as { _handle: { fd: number } })._handle.fd });
    expect(byType.timer).toMatchObject({ id: raw, active: true, ref: true, closing: false, module: FIXTURE_REALPATH });
    expect(c.has(name)).toBe(false);

    // Nobody else will close them: the test does, and the owner drains.
    server.close();
    fx.close(raw);
    await whenDrained(name, { timeoutMs: 10_000 });
    expect(countsFor(name)).toEqual(NOTHING);
    await c.quit();
  });

  it('a C module whose init fails is not registered, carries the libuv error and is unmapped', async () => {
    const saved = process.env.UV_DRAIN_COMMIT_FILE;
    delete process.env.UV_DRAIN_COMMIT_FILE; // commit_module_init answers UV_EINVAL
    try {
      const c = coordinator();
      const err = await rejection(c.load('commit_module', { native: COMMIT_SO }));
      expect(err).toBeInstanceOf(ModuleInitError);
      expect((err.cause as { errno?: number }).errno).toBe(UV_EINVAL);
      expect((err.report as UnloadReport).left.handles).toEqual([]);
      expect(c.has('commit_module')).toBe(false);
      expect(mapped(COMMIT_SO)).toBe(false);
      await c.quit();
    } finally {
      if (saved !== undefined) process.env.UV_DRAIN_COMMIT_FILE = saved;
    }
  });
});

describe('cleanup and deinit that throw', () => {
  it('a cleanup that throws is recorded in the report, emitted as error, and the module is still drained and removed', async () => {
    const c = coordinator();
    const name = fresh('cleanup-throws');
    const errors: [unknown, unknown][] = [];
    c.on('error', (error: unknown, which: unknown) => errors.push([error, which]));
    const mod = serverModule({
      cleanup() {
        void mod.server!.close();
        throw new Error('cleanup broke');
      },
    });
    await c.load(name, mod);
    const report = await c.unload(name);
    expect(report).toMatchObject({ name, removed: true, cleanupError: 'cleanup broke', cleanupReturned: true });
    expect(errors).toHaveLength(1);
    expect((errors[0][0] as Error).message).toBe('cleanup broke');
    expect(errors[0][1]).toBe(name);
    expect(c.has(name)).toBe(false);
    expect(countsFor(name)).toEqual(NOTHING);
    await c.quit();
  });

  it('a deinit that throws rejects the unload with ModuleDeinitError and the module stays loaded', async () => {
    const c = coordinator();
    const name = fresh('deinit-throws');
    const cause = new Error('deinit broke');
    let broken = true;
    const mod = serverModule({
      deinit() {
        if (broken) throw cause;
        return 'done' as const;
      },
    });
    await c.load(name, mod);
    const err = await rejection(c.unload(name));
    expect(err).toBeInstanceOf(ModuleDeinitError);
    expect(err).toMatchObject({ code: 'UVD_ERR_MODULE_DEINIT', moduleName: name });
    expect(err.cause).toBe(cause);
    expect((err.report as UnloadReport).removed).toBe(false);
    expect(c.has(name)).toBe(true);
    expect(c.names).toEqual([name]);

    // It can be unloaded again once its deinit works.
    broken = false;
    const report = await c.unload(name);
    expect(report).toMatchObject({ removed: true, lastDeinit: 'done' });
    expect(c.has(name)).toBe(false);
    await c.quit();
  });

  it("a deinit answering neither 'done' nor 'again' rejects with ModuleDeinitError, and the module stays loaded", async () => {
    const c = coordinator();
    const name = fresh('deinit-answer');
    let answer: unknown = 'finished';
    await c.load(name, { deinit: () => answer as 'done' });
    const err = await rejection(c.unload(name));
    expect(err).toBeInstanceOf(ModuleDeinitError);
    expect(err.cause).toBeInstanceOf(TypeError);
    expect(err.message).toContain("'done' or 'again'");
    expect(c.has(name)).toBe(true);
    answer = 'done';
    expect((await c.unload(name)).removed).toBe(true);
    await c.quit();
  });
});

describe('native modules that cannot be opened', () => {
  it("a path that does not exist: the error carries dlerror's text and nothing is registered", async () => {
    const c = coordinator();
    const missing = path.join(dir, 'no-such-module.so');
    const err = await rejection(c.load('commit_module', { native: missing }));
    expect(err.code).toBe('UVD_ERR_DLOPEN');
    expect(err.message).toContain(`${missing}: cannot open shared object file: No such file or directory`);
    expect(c.has('commit_module')).toBe(false);
    await c.quit();
  });

  it("a file that is not a shared object: the error carries dlerror's text", async () => {
    const c = coordinator();
    const junk = path.join(dir, 'junk.so');
    fs.writeFileSync(junk, 'not an ELF file, just text long enough to have a header\n'.repeat(4));
    const err = await rejection(c.load('junk', { native: junk }));
    expect(err.code).toBe('UVD_ERR_DLOPEN');
    expect(err.message).toContain('invalid ELF header');
    expect(c.has('junk')).toBe(false);
    await c.quit();
  });

  it('a module name without its symbols: the error names the missing symbol', async () => {
    const c = coordinator();
    const err = await rejection(c.load('journal', { native: COMMIT_SO }));
    expect(err).toMatchObject({ code: 'UVD_ERR_MODULE_SYMBOL', symbol: 'journal_api' });
    expect(err.message).toContain('journal_api');
    expect(c.has('journal')).toBe(false);
    expect(mapped(COMMIT_SO)).toBe(false);
    await c.quit();
  });

  it('a module built for another ABI: the error names both versions', async () => {
    const c = coordinator();
    const err = await rejection(c.load('bad_abi', { native: BAD_SO }));
    expect(err).toMatchObject({ code: 'UVD_ERR_MODULE_ABI', expected: 1, actual: 999 });
    expect(c.has('bad_abi')).toBe(false);
    expect(mapped(BAD_SO)).toBe(false);
    await c.quit();
  });
});

describe('a module that never drains', () => {
  it('rejects with UnloadTimeoutError whose report names its handles, and the module stays loaded', async () => {
    const c = coordinator();
    const name = fresh('stuck');
    let free = false;
    const mod = serverModule({ cleanup() {}, deinit: () => (free ? 'done' : 'again') as 'done' | 'again' });
    await c.load(name, mod);
    const err = await rejection(c.unload(name, { timeoutMs: 50 }));
    expect(err).toBeInstanceOf(UnloadTimeoutError);
    expect(err.code).toBe('UVD_ERR_UNLOAD_TIMEOUT');
    const report = err.report as UnloadReport;
    expect(report).toMatchObject({ name, removed: false, cleanupReturned: true, lastDeinit: 'again' });
    expect(report.stalled).toBeUndefined();
    expect(report.left.counts).toMatchObject({ total: 1, active: 1, ref: 1, closing: 0 });
    const fd = (mod.server as unknown as { _handle: { fd: number } })._handle.fd;
    expect(report.left.handles).toEqual([
      expect.objectContaining({ type: 'tcp', active: true, ref: true, closing: false, fd }),
    ]);
    expect(c.has(name)).toBe(true);
    await mod.release();
    free = true;
    expect((await c.unload(name)).removed).toBe(true);
    await c.quit();
  });

  it('is unloaded by a second unload once it released its handles', async () => {
    const c = coordinator();
    const name = fresh('stuck-then-free');
    let free = false;
    const mod = serverModule({ cleanup() {}, deinit: () => (free ? 'done' : 'again') as 'done' | 'again' });
    await c.load(name, mod);
    await rejection(c.unload(name, { timeoutMs: 50 }));
    await mod.release();
    free = true;
    const report = await c.unload(name);
    expect(report).toMatchObject({ name, removed: true, lastDeinit: 'done' });
    expect(report.left).toEqual({ counts: NOTHING, handles: [], callbacksInside: [] });
    expect(c.has(name)).toBe(false);
    await c.quit();
  });

  it('emits error with the UnloadTimeoutError and the module name', async () => {
    const c = coordinator();
    const name = fresh('stuck-event');
    const errors: [unknown, unknown][] = [];
    c.on('error', (error: unknown, which: unknown) => errors.push([error, which]));
    let free = false;
    const mod = serverModule({ cleanup() {}, deinit: () => (free ? 'done' : 'again') as 'done' | 'again' });
    await c.load(name, mod);
    const err = await rejection(c.unload(name, { timeoutMs: 50 }));
    expect(errors).toEqual([[err, name]]);
    await mod.release();
    free = true;
    expect((await c.unload(name)).removed).toBe(true);
    expect(errors).toHaveLength(1);
    await c.quit();
  });

  it('a cleanup that never returns is cut off by the deadline and the module stays loaded', async () => {
    const c = coordinator();
    const name = fresh('cleanup-hangs');
    let returnCleanup: (() => void) | undefined;
    let hang = true;
    await c.load(name, {
      cleanup: () => (hang ? new Promise<void>((resolve) => (returnCleanup = resolve)) : undefined),
    });
    const err = await rejection(c.unload(name, { timeoutMs: 50 }));
    expect(err).toBeInstanceOf(UnloadTimeoutError);
    expect((err.report as UnloadReport).cleanupReturned).toBe(false);
    expect((err.report as UnloadReport).deinitCalls).toBe(0);
    expect(c.has(name)).toBe(true);
    hang = false;
    returnCleanup!();
    expect((await c.unload(name)).removed).toBe(true);
    await c.quit();
  });
});

describe('bad input', () => {
  it('bad coordinator options throw TypeError or RangeError naming the option', () => {
    expect(() => new UnloadCoordinator(null as never)).toThrow(/"options"/);
    expect(() => new UnloadCoordinator({ timeoutMs: '5' as never })).toThrow(TypeError);
    expect(() => new UnloadCoordinator({ timeoutMs: 0 })).toThrow(RangeError);
    expect(() => new UnloadCoordinator({ timeoutMs: 0 })).toThrow(/"timeoutMs"/);
  });

  it('bad load arguments reject with TypeError or RangeError naming the argument', async () => {
    const c = coordinator();
    for (const [args, type, what] of [
      [[5, {}], TypeError, '"name"'],
      [['', {}], RangeError, '"name"'],
      [['x', null], TypeError, '"module"'],
      [['x', ''], TypeError, '"module"'],
      [['x', { init: 5 }], TypeError, '"module.init"'],
      [['x', { native: '' }], TypeError, '"module.native"'],
      [['x', { native: COMMIT_SO, symbols: 'not an identifier' }], TypeError, '"module.symbols"'],
    ] as const) {
      const err = await rejection(Promise.resolve().then(() => (c.load as (...a: unknown[]) => Promise<void>)(...args)));
      expect(err).toBeInstanceOf(type);
      expect(err.message).toContain(what);
    }
    expect(c.names).toEqual([]);
    await c.quit();
  });

  it('bad unload and quit options reject with TypeError or RangeError naming the option', async () => {
    const c = coordinator();
    const name = fresh('options');
    await c.load(name, {});
    const unloadErr = await rejection(c.unload(name, { timeoutMs: -1 }));
    expect(unloadErr).toBeInstanceOf(RangeError);
    expect(unloadErr.message).toContain('"timeoutMs"');
    expect(await rejection(c.unload(name, null as never))).toBeInstanceOf(TypeError);
    const orderErr = await rejection(c.quit({ order: 'random' as never }));
    expect(orderErr).toBeInstanceOf(TypeError);
    expect(orderErr.message).toContain('"order"');
    expect(c.has(name)).toBe(true);
    expect((await c.unload(name)).removed).toBe(true);
    await c.quit();
  });
});

describe('creation stacks', () => {
  it('with stacks on, what a module leaves is reported with the line that made it', async () => {
    const c = coordinator({ stacks: true });
    const name = fresh('stacks');
    let server: net.Server | undefined;
    await c.load(name, {
      init() {
        server = net.createServer().listen(0); // made-here
      },
      deinit: () => 'done',
    });
    closeAfterTest(server!);
    const error = await c.unload(name, { timeoutMs: 50 }).then(
      () => null,
      (e: unknown) => e as UnloadTimeoutError,
    );
    expect(error).toBeInstanceOf(UnloadTimeoutError);
    const [left] = (error!.report as UnloadReport).left.handles;
    expect(left).toMatchObject({ type: 'tcp', active: true });
    const file = fileURLToPath(import.meta.url);
    const line = fs.readFileSync(file, 'utf8').split('\n').findIndex((l) => l.includes('// made-here')) + 1;
    expect(left.stack).toContain(`${path.basename(file)}:${line}`);
    await closeServer(server);
    await c.unload(name);
    await c.quit();
  });

  it('without stacks (the default) the report has no stack field', async () => {
    const c = coordinator();
    const name = fresh('no-stacks');
    let server: net.Server | undefined;
    await c.load(name, { init: () => void (server = net.createServer().listen(0)), deinit: () => 'done' });
    closeAfterTest(server!);
    const error = (await c.unload(name, { timeoutMs: 50 }).catch((e: unknown) => e)) as UnloadTimeoutError;
    expect((error.report as UnloadReport).left.handles[0]).not.toHaveProperty('stack');
    await closeServer(server);
    await c.unload(name);
    await c.quit();
  });

  it('rejects a stacks option that is not a boolean', () => {
    expect(() => new UnloadCoordinator({ stacks: 'yes' as unknown as boolean })).toThrow(/"stacks" option/);
  });
});

describe('quit report with creation stacks', () => {
  it("lists a handle of no module that holds the loop with the line that created it", async () => {
    const c = coordinator({ stacks: true });
    const server = closeAfterTest(net.createServer().listen(0)); // holds-the-loop
    const report = await c.quit();
    const held = report.holding.find((h) => h.type === 'tcp' && h.owner === null && h.active);
    const file = fileURLToPath(import.meta.url);
    const line = fs.readFileSync(file, 'utf8').split('\n').findIndex((l) => l.includes('// holds-the-loop')) + 1;
    expect(held?.stack).toContain(`${path.basename(file)}:${line}`);
    await closeServer(server);
  });
});
