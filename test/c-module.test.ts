// Native C modules (native/include/uv_drain_module.h) loaded and removed with
// uv-drain's binding (native/c_module.cc), with a real module:
// examples/c-module/commit_module.c (build/Release/commit_module.so), which
// commits records to a file with uv_fs_write + uv_fs_fsync from a uv timer
// and serves its acknowledged count on a raw uv_tcp server. Everything is
// real: dlopen, the loop, the file system, sockets, and the crash of a host
// that unloads the module the naive way.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capi, countsFor, snapshot } from '../dist/index.js';
import { cModule } from '../dist/c-module.js';
import { binding } from '../dist/native.js';
import { loadFixture, UV_EINVAL } from './fixture.js';
import { baselinePerTest, thrown, uniqueName, until } from './helpers.js';

/** native/c_module.h, with ids (src/c-module.ts) */
interface CModuleBinding {
  readonly abi: number;
  open(path: string, name: string, ownerId: number): object;
  init(h: object): number;
  cleanup(h: object): number;
  deinit(h: object): number;
  callbacksInside(h: object): string[];
  close(h: object): void;
  path(h: object): string;
  name(h: object): string;
}
const cm = cModule as unknown as CModuleBinding;
const fx = loadFixture();

const root = fileURLToPath(new URL('..', import.meta.url));
const COMMIT_SO = fs.realpathSync(path.join(root, 'build', 'Release', 'commit_module.so'));
const BAD_SO = fs.realpathSync(path.join(root, 'test', 'fixtures', 'build', 'Release', 'bad_abi_module.so'));
const CHILD = path.join(root, 'test', 'scripts', 'c-module-child.cjs');
const NAME = 'commit_module';
const { EAGAIN: UV_EAGAIN, EBUSY: UV_EBUSY } = binding.uvErrors;

const mapped = (file: string) => fs.readFileSync('/proc/self/maps', 'utf8').includes(file);
const acked = () => fx.moduleQuery(COMMIT_SO, 'commit_module_acked', 'u64');
const moduleError = () => fx.moduleQuery(COMMIT_SO, 'commit_module_error', 'int');

const freshOwner = (what: string) => uniqueName(`cmod:${what}:`);

/** until(), bounded by time rather than ticks: fsync takes what the disk takes. */
async function waitFor(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await tick();
  }
}

let dir: string;
let commitFile: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uv-drain-cmod-'));
});
afterAll(() => {
  delete process.env.UV_DRAIN_COMMIT_FILE;
  fs.rmSync(dir, { recursive: true, force: true });
});

baselinePerTest({
  setup() {
    commitFile = path.join(dir, `${uniqueName('commits-')}.log`);
    process.env.UV_DRAIN_COMMIT_FILE = commitFile;
  },
  // Every test leaves the module unloaded.
  verify: () => expect(mapped(COMMIT_SO)).toBe(false),
});

/** Waits for the module to drain (deinit 0, owner empty), then closes it. */
async function drainAndClose(h: object, owner: string): Promise<void> {
  await waitFor(() => {
    const c = countsFor(owner);
    return c.total === 0 && c.requests === 0 && cm.deinit(h) === 0;
  }, `${owner} to drain`);
  expect(cm.callbacksInside(h)).toEqual([]);
  cm.close(h);
}

function ownHandles(owner: string) {
  return snapshot().filter((h) => h.owner === owner);
}

function readLines(file: string): number[] {
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number);
}

function fetchLine(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    const socket = net.connect(port, '127.0.0.1');
    socket.setEncoding('utf8');
    socket.on('data', (d) => (data += d));
    socket.on('error', reject);
    socket.on('close', () => resolve(data));
  });
}

describe('open() refuses what it cannot load safely', () => {
  it('a path that does not exist: UVD_ERR_DLOPEN with dlerror()\'s text', () => {
    const missing = path.join(dir, 'no-such-module.so');
    const err = thrown(() => cm.open(missing, NAME, binding.ownerId(freshOwner('missing'))));
    expect(err.code).toBe('UVD_ERR_DLOPEN');
    expect(err.path).toBe(missing);
    expect(err.message).toContain(`${missing}: cannot open shared object file: No such file or directory`);
  });

  it('a file that is not a shared object: UVD_ERR_DLOPEN with dlerror()\'s text', () => {
    const junk = path.join(dir, 'junk.so');
    fs.writeFileSync(junk, 'not an ELF file, just text long enough to have a header\n'.repeat(4));
    const err = thrown(() => cm.open(junk, NAME, binding.ownerId(freshOwner('junk'))));
    expect(err.code).toBe('UVD_ERR_DLOPEN');
    expect(err.message).toContain('invalid ELF header');
  });

  it('the wrong module name: UVD_ERR_MODULE_SYMBOL names the missing NAME_api, and the object is unloaded', () => {
    const err = thrown(() => cm.open(COMMIT_SO, 'nope', binding.ownerId(freshOwner('name'))));
    expect(err).toMatchObject({ code: 'UVD_ERR_MODULE_SYMBOL', symbol: 'nope_api', module: 'nope', path: COMMIT_SO });
    expect(err.message).toContain('undefined symbol: nope_api');
    expect(mapped(COMMIT_SO)).toBe(false);
  });

  it('another ABI: UVD_ERR_MODULE_ABI with expected and actual, nothing else called', () => {
    // bad_abi_init/cleanup/deinit abort(): reaching them would kill the test.
    const err = thrown(() => cm.open(BAD_SO, 'bad_abi', binding.ownerId(freshOwner('abi'))));
    expect(err).toMatchObject({ code: 'UVD_ERR_MODULE_ABI', expected: cm.abi, actual: 999 });
    expect(cm.abi).toBe(1);
    expect(err.message).toContain('ABI 999');
    expect(mapped(BAD_SO)).toBe(false);
  });

  it('a missing NAME_deinit: UVD_ERR_MODULE_SYMBOL names it', () => {
    const err = thrown(() => cm.open(BAD_SO, 'half', binding.ownerId(freshOwner('half'))));
    expect(err).toMatchObject({ code: 'UVD_ERR_MODULE_SYMBOL', symbol: 'half_deinit' });
    expect(mapped(BAD_SO)).toBe(false);
  });

  it('an object that is already loaded: UVD_ERR_MODULE_LOADED', () => {
    const owner = freshOwner('twice');
    const h = cm.open(COMMIT_SO, NAME, binding.ownerId(owner));
    try {
      const err = thrown(() => cm.open(COMMIT_SO, NAME, binding.ownerId(owner)));
      expect(err).toMatchObject({ code: 'UVD_ERR_MODULE_LOADED', path: COMMIT_SO });
    } finally {
      // Never initialised: nothing of it is on the loop.
      expect(cm.callbacksInside(h)).toEqual([]);
      cm.close(h);
    }
  });

  it('bad arguments: TypeError (RangeError for an unknown owner id)', () => {
    const id = binding.ownerId(freshOwner('args'));
    const typeErrors: Array<() => unknown> = [
      () => (cm.open as (...a: unknown[]) => unknown)(),
      () => (cm.open as (...a: unknown[]) => unknown)(1, NAME, id),
      () => (cm.open as (...a: unknown[]) => unknown)(COMMIT_SO, 2, id),
      () => (cm.open as (...a: unknown[]) => unknown)(COMMIT_SO, NAME, String(id)),
      () => cm.open('', NAME, id), // dlopen("") would be the main program
      () => cm.open(COMMIT_SO, '', id),
      () => cm.open(COMMIT_SO, 'commit module', id),
      () => cm.open(COMMIT_SO, NAME, 0),
      () => cm.open(COMMIT_SO, NAME, 1.5),
      () => cm.open(COMMIT_SO, NAME, -1),
      () => cm.open(COMMIT_SO, NAME, 2 ** 32),
    ];
    for (const call of typeErrors) expect(call).toThrow(TypeError);
    // Another addon's External, a plain object, nothing: not a module handle.
    for (const notModule of [capi, {}, null, undefined, 'x']) {
      for (const fn of [cm.init, cm.cleanup, cm.deinit, cm.callbacksInside, cm.close, cm.path, cm.name]) {
        expect(() => fn(notModule as object)).toThrow(TypeError);
      }
    }
    const err = thrown(() => cm.open(COMMIT_SO, NAME, 0x7ffff));
    expect(err).toBeInstanceOf(RangeError);
    expect(mapped(COMMIT_SO)).toBe(false);
  });
});

describe('the commit module, driven by the binding', () => {
  it('commits while loaded, drains after cleanup, and every acknowledged commit is on disk', async () => {
    const owner = freshOwner('lifecycle');
    const h = cm.open(COMMIT_SO, NAME, binding.ownerId(owner));
    expect(cm.path(h)).toBe(COMMIT_SO);
    expect(cm.name(h)).toBe(NAME);
    expect(cm.init(h)).toBe(0);

    // The timer and the server, tagged, active and ref'd; no idle handle.
    expect(countsFor(owner)).toMatchObject({ total: 2, active: 2, ref: 2, closing: 0 });
    const handles = ownHandles(owner);
    expect(handles.map((x) => x.type).sort()).toEqual(['tcp', 'timer']);
    expect(snapshot().some((x) => x.type === 'idle' && x.active && x.module === COMMIT_SO)).toBe(false);
    expect(cm.callbacksInside(h).sort()).toEqual(handles.map((x) => x.id).sort());

    // Commits flow: requests in flight, acknowledgements growing.
    let maxRequests = 0;
    await waitFor(() => {
      maxRequests = Math.max(maxRequests, countsFor(owner).requests);
      return acked() >= 3 && maxRequests > 0;
    }, 'commits with requests in flight');
    expect(moduleError()).toBe(0);

    // The server answers with the acknowledged count; its accepted
    // connection is tagged too, and closes itself.
    const port = fx.moduleQuery(COMMIT_SO, 'commit_module_port', 'int');
    expect(port).toBeGreaterThan(0);
    const before = acked();
    const line = await fetchLine(port);
    expect(Number(line.trim())).toBeGreaterThanOrEqual(before);
    expect(line).toMatch(/^\d+\n$/);
    await until(() => countsFor(owner).total === 2 && countsFor(owner).closing === 0, 'the connection to close');

    // Clean up while a commit is in flight.
    await waitFor(() => countsFor(owner).requests > 0, 'a commit in flight');
    const ackedAtCleanup = acked();
    expect(cm.deinit(h)).toBe(UV_EBUSY); // no cleanup yet
    expect(cm.cleanup(h)).toBe(0);
    expect(cm.cleanup(h)).toBe(0); // twice is harmless
    expect(cm.deinit(h)).toBe(UV_EAGAIN);
    expect(countsFor(owner)).toMatchObject({ total: 2, closing: 2 });
    expect(countsFor(owner).requests).toBeGreaterThan(0);

    await waitFor(() => {
      const c = countsFor(owner);
      return c.total === 0 && c.requests === 0 && cm.deinit(h) === 0;
    }, 'the module to drain');
    expect(cm.deinit(h)).toBe(0); // again: still 0
    expect(cm.callbacksInside(h)).toEqual([]);
    const final = acked();
    expect(final).toBeGreaterThan(ackedAtCleanup); // the in-flight commit completed
    expect(moduleError()).toBe(0);

    cm.close(h);
    expect(mapped(COMMIT_SO)).toBe(false);
    expect(() => cm.close(h)).not.toThrow(); // idempotent
    for (const fn of [cm.init, cm.cleanup, cm.deinit, cm.callbacksInside]) {
      expect(thrown(() => fn(h)).code).toBe('UVD_ERR_MODULE_CLOSED');
    }
    expect(cm.path(h)).toBe(COMMIT_SO);

    // Exactly the acknowledged commits, in order.
    expect(readLines(commitFile)).toEqual(Array.from({ length: final }, (_, i) => i + 1));
  });

  it('close() refuses while a handle will call into the module, which stays usable', async () => {
    const owner = freshOwner('busy');
    const h = cm.open(COMMIT_SO, NAME, binding.ownerId(owner));
    expect(cm.init(h)).toBe(0);
    await waitFor(() => acked() >= 1, 'a first commit');
    const ids = ownHandles(owner).map((x) => x.id).sort();

    // Right after cleanup: the close callbacks (module code) have not run.
    expect(cm.cleanup(h)).toBe(0);
    const err = thrown(() => cm.close(h));
    expect(err.code).toBe('UVD_ERR_MODULE_BUSY');
    expect((err.ids as string[]).slice().sort()).toEqual(ids);
    for (const id of ids) expect(err.message).toContain(id);
    expect(mapped(COMMIT_SO)).toBe(true);

    // Still loaded and callable.
    expect(cm.deinit(h)).toBe(UV_EAGAIN);
    expect(acked()).toBeGreaterThanOrEqual(1);
    expect(cm.callbacksInside(h).sort()).toEqual(ids);

    await drainAndClose(h, owner);
    expect(mapped(COMMIT_SO)).toBe(false);
    expect(readLines(commitFile).length).toBeGreaterThanOrEqual(1);
  });

  it('close() refuses while a request counted for the owner is in flight', async () => {
    const owner = freshOwner('requests');
    const id = binding.ownerId(owner);
    const h = cm.open(COMMIT_SO, NAME, id);
    expect(cm.init(h)).toBe(0);
    await waitFor(() => acked() >= 1, 'a first commit');
    cm.cleanup(h);
    await waitFor(() => countsFor(owner).total === 0 && cm.deinit(h) === 0, 'the module to drain');
    // A request of the owner libuv cannot show (its callback would be
    // module code): begun through the C API, as the module would.
    expect(fx.requestBegin('main', id)).toBe(0);
    expect(cm.callbacksInside(h)).toEqual([]);
    const err = thrown(() => cm.close(h));
    expect(err).toMatchObject({ code: 'UVD_ERR_MODULE_BUSY', ids: [], requests: 1 });
    expect(mapped(COMMIT_SO)).toBe(true);
    expect(fx.requestEnd('main', id)).toBe(0);
    cm.close(h);
  });

  it('snapshot() names the real path of commit_module.so for its handles, active and closing', async () => {
    const owner = freshOwner('snapshot');
    const h = cm.open(COMMIT_SO, NAME, binding.ownerId(owner));
    expect(cm.init(h)).toBe(0);
    const active = ownHandles(owner);
    expect(active).toHaveLength(2);
    for (const x of active) expect(x).toMatchObject({ active: true, closing: false, module: COMMIT_SO });
    cm.cleanup(h);
    const closing = ownHandles(owner);
    expect(closing).toHaveLength(2);
    for (const x of closing) expect(x).toMatchObject({ closing: true, module: COMMIT_SO });
    await drainAndClose(h, owner);
    expect(ownHandles(owner)).toEqual([]);
  });

  it('init without UV_DRAIN_COMMIT_FILE fails with UV_EINVAL and leaves nothing', () => {
    delete process.env.UV_DRAIN_COMMIT_FILE;
    const owner = freshOwner('noenv');
    const h = cm.open(COMMIT_SO, NAME, binding.ownerId(owner));
    expect(cm.init(h)).toBe(UV_EINVAL);
    expect(countsFor(owner).total).toBe(0);
    expect(cm.callbacksInside(h)).toEqual([]);
    cm.close(h);
  });

  it('can be loaded again after an unload, with fresh state', async () => {
    for (let round = 0; round < 2; round++) {
      const owner = freshOwner(`again${round}`);
      const h = cm.open(COMMIT_SO, NAME, binding.ownerId(owner));
      expect(cm.init(h)).toBe(0);
      await waitFor(() => acked() >= 2, 'two commits');
      cm.cleanup(h);
      await drainAndClose(h, owner);
      expect(readLines(commitFile)[0]).toBe(1);
    }
  });
});

describe('unloading in a child process', () => {
  const run = (mode: 'naive' | 'safe') =>
    spawnSync(process.execPath, [CHILD, mode, path.join(dir, `child-${mode}.log`)], {
      encoding: 'utf8',
      timeout: 20_000,
    });

  it('the naive way (dlclose right after a non-blocking deinit) kills the process', () => {
    const r = run('naive');
    const line = r.stdout.split('\n').find((l) => l.startsWith('UVD-NAIVE '));
    expect(line, r.stdout + r.stderr).toBeDefined();
    const report = JSON.parse(line!.slice('UVD-NAIVE '.length));
    // deinit said "not done", the host unloaded anyway, and it was unmapped
    // with the timer and server still closing and the file open in flight.
    expect(report).toMatchObject({ init: 0, cleanup: 0, deinit: UV_EAGAIN, dlclose: 0, mapped: false });
    expect(report.counts).toMatchObject({ total: 2, closing: 2 });
    expect(report.counts.requests).toBeGreaterThan(0);
    expect(r.stdout).not.toContain('UVD-SURVIVED');
    expect(['SIGSEGV', 'SIGBUS', 'SIGILL']).toContain(r.signal);
  });

  it('the same module drained first, then closed with the binding: exit 0', () => {
    const r = run('safe');
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.signal).toBeNull();
    const line = r.stdout.split('\n').find((l) => l.startsWith('UVD-SAFE '));
    expect(line, r.stdout + r.stderr).toBeDefined();
    const report = JSON.parse(line!.slice('UVD-SAFE '.length));
    expect(report).toMatchObject({ init: 0, cleanup: 0, firstDeinit: UV_EAGAIN, inside: [], mappedAfterClose: false });
    expect(report.acked).toBeGreaterThanOrEqual(3);
    expect(report.lines).toEqual(Array.from({ length: report.acked }, (_, i) => i + 1));
  });
});
