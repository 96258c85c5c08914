// leakCheck(): what is caught (real servers, sockets, child processes,
// watchers, timers, ports, workers and a native addon's raw handles) and
// what is not (Node's own stdio and DNS handles, things that close within
// the grace, what existed before begin()). Every test closes what it leaked
// once its own check has reported it, so uv-drain/vitest's check around the
// test (vitest.config.mjs) passes.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as dns from 'node:dns';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { MessageChannel, Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import {
  LeakError,
  UvDrainError,
  formatLeakReport,
  leakCheck,
  snapshot,
  withOwner,
  type Leak,
  type LeakReport,
  type LeakedHandle,
  type LeakedTimer,
} from '../dist/index.js';
import { FIXTURE_REALPATH, closeAll, loadFixture } from './fixture.js';
import { closeServer, destroySocket, until } from './helpers.js';

const THIS_FILE = fileURLToPath(import.meta.url);
const SOURCE = fs.readFileSync(THIS_FILE, 'utf8').split('\n');
const NODE = fs.realpathSync(process.execPath);
const DIST = path.join(path.dirname(THIS_FILE), '..', 'dist', 'index.js');
const THIS_FILE_NAME = path.basename(THIS_FILE);
const HAS_SCRIPT = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;
const fx = loadFixture();

/** `leaks.test.ts:<line>` of the line of this file that holds `marker` (a creation site). */
function siteOf(marker: string): string {
  const index = SOURCE.findIndex((line) => line.includes(marker) && !line.includes('siteOf('));
  expect(index, `marker ${marker}`).toBeGreaterThanOrEqual(0);
  return `${path.basename(THIS_FILE)}:${index + 1}:`;
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await closeAll(fx);
});

function handles(report: LeakReport): LeakedHandle[] {
  return report.leaks.filter((l): l is LeakedHandle => l.kind === 'handle');
}
function timers(report: LeakReport): LeakedTimer[] {
  return report.leaks.filter((l): l is LeakedTimer => l.kind === 'timer');
}
function types(report: LeakReport): string[] {
  return report.leaks.map((l) => l.type).sort();
}

/** Waits until none of `ids` is on the loop any more (their close callbacks have run). */
async function gone(ids: string[]): Promise<void> {
  await until(() => !snapshot().some((h) => ids.includes(h.id)), `handles ${ids.join(', ')} to be gone`);
}

/** A loopback server made before a check begins, with its port. */
async function listening(): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer((socket) => cleanups.push(() => destroySocket(socket)));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => closeServer(server));
  return { server, port: (server.address() as net.AddressInfo).port };
}

// ------------------------------------------------------------ caught ----

describe('caught', () => {
  it('a TCP server left listening: one active, referenced tcp handle, with the line that made it', async () => {
    const check = leakCheck({ tracking: true, graceMs: 50 });
    check.begin();
    const server = net.createServer().listen(0); // site:server
    const report = await check.end();
    const { address, port } = server.address() as net.AddressInfo;
    await closeServer(server);
    expect(report.ok).toBe(false);
    expect(report.leaks).toEqual([
      {
        kind: 'handle',
        id: expect.stringMatching(/^0x[0-9a-f]{16}$/),
        type: 'tcp',
        active: true,
        ref: true,
        closing: false,
        fd: expect.any(Number),
        owner: null,
        module: NODE,
        resource: `TCP server ${address.includes(':') ? `[${address}]` : address}:${port}`,
        stack: expect.stringContaining(siteOf('// site:server')),
      },
    ]);
    // The first frame is the test's own line, not Node's or uv-drain's.
    expect(report.leaks[0].stack!.split('\n')[0]).toContain(siteOf('// site:server'));
  });

  it('a connected client socket, and the connection the server accepted for it', async () => {
    const { server, port } = await listening();
    const check = leakCheck({ tracking: true, graceMs: 50 });
    check.begin();
    const accepted = once(server, 'connection') as Promise<[net.Socket]>;
    const client = net.connect(port, '127.0.0.1'); // site:client
    cleanups.push(() => destroySocket(client));
    await once(client, 'connect');
    await accepted;
    const report = await check.end();
    expect(types(report)).toEqual(['tcp', 'tcp']);
    expect(handles(report).every((h) => h.active && h.ref && typeof h.fd === 'number')).toBe(true);
    const fdOf = (s: net.Socket) => (s as unknown as { _handle: { fd: number } })._handle.fd;
    const mine = handles(report).find((h) => h.fd === fdOf(client))!;
    expect(mine.stack).toContain(siteOf('// site:client'));
    // The accepted connection was born in libuv's callback: its stack is the server's.
    const theirs = handles(report).find((h) => h !== mine)!;
    expect(theirs.stack).toContain('born in a callback');
    // Named as Node names them: each side's local and remote address.
    const local = `127.0.0.1:${client.localPort}`;
    expect(mine.resource).toBe(`TCP socket ${local} → 127.0.0.1:${port}`);
    expect(theirs.resource).toBe(`TCP socket 127.0.0.1:${port} → ${local}`);
  });

  it('a child process with its three stdio pipes', async () => {
    const check = leakCheck({ tracking: true, graceMs: 50 });
    check.begin();
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)']); // site:spawn
    cleanups.push(() => kill(child));
    const report = await check.end();
    expect(types(report)).toEqual(['pipe', 'pipe', 'pipe', 'process']);
    const processHandle = handles(report).find((h) => h.type === 'process')!;
    expect(processHandle).toMatchObject({ active: true, ref: true });
    // Its pid and command (long commands are cut).
    expect(processHandle.resource!.startsWith(`child process pid ${child.pid} (${process.execPath} -e setTimeout(`)).toBe(true);
    expect(processHandle.stack).toContain(siteOf('// site:spawn'));
  });

  it('an fs.watch watcher', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uv-drain-leaks-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const check = leakCheck({ tracking: true, graceMs: 50 });
    check.begin();
    const watcher = fs.watch(dir); // site:watch
    const report = await check.end();
    const ids = report.leaks.map((l) => l.id);
    watcher.close();
    await gone(ids);
    expect(handles(report)).toEqual([
      expect.objectContaining({
        type: 'fs_event',
        active: true,
        ref: true,
        resource: `fs.watch watcher ${dir}`,
        stack: expect.stringContaining(siteOf('// site:watch')),
      }),
    ]);
  });

  it('watchers and pipe servers are named by their path, tracking on or off', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uv-drain-leaks-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    for (const tracking of [true, false]) {
      const check = leakCheck({ tracking, graceMs: 20 });
      check.begin();
      const file = path.join(dir, 'watched');
      fs.watchFile(file, { interval: 60_000 }, () => {});
      const socket = path.join(dir, `server-${tracking}.sock`);
      const server = net.createServer().listen(socket);
      await once(server, 'listening');
      const report = await check.end();
      fs.unwatchFile(file);
      await closeServer(server);
      await gone(report.leaks.map((l) => l.id));
      expect(Object.fromEntries(handles(report).map((h) => [h.type, h.resource]))).toEqual({
        fs_poll: `fs.watchFile watcher ${file}`,
        pipe: `${tracking ? 'pipe server' : 'pipe'} ${socket}`,
      });
    }
  });

  it('an interval, as a JS timer of its own (all JS timers share one uv timer)', async () => {
    const check = leakCheck({ tracking: true, graceMs: 50 });
    check.begin();
    const interval = setInterval(function poll() {}, 5_000); // site:interval
    const report = await check.end();
    clearInterval(interval);
    expect(report.leaks).toEqual([
      {
        kind: 'timer',
        id: expect.stringMatching(/^timeout:\d+$/),
        type: 'Timeout',
        active: true,
        ref: true,
        closing: false,
        fd: null,
        owner: null,
        module: null,
        repeatMs: 5_000,
        delayMs: 5_000,
        callback: 'poll',
        stack: expect.stringContaining(siteOf('// site:interval')),
      },
    ]);
  });

  it('an unref’d timeout (it does not hold the process, but outlives the test)', async () => {
    const check = leakCheck({ tracking: true, graceMs: 50 });
    check.begin();
    const timeout = setTimeout(() => {}, 60_000).unref();
    const report = await check.end();
    clearTimeout(timeout);
    expect(timers(report)).toEqual([expect.objectContaining({ type: 'Timeout', ref: false, delayMs: 60_000, repeatMs: null })]);
  });

  it('a MessageChannel: two async handles', async () => {
    const check = leakCheck({ tracking: true, graceMs: 50 });
    check.begin();
    const { port1, port2 } = new MessageChannel(); // site:channel
    const report = await check.end();
    port1.close();
    await gone(report.leaks.map((l) => l.id));
    void port2;
    expect(handles(report)).toHaveLength(2);
    expect(handles(report).every((h) => h.type === 'async' && h.active && !h.ref && h.resource === 'MessagePort')).toBe(true);
    expect(handles(report)[0].stack).toContain(siteOf('// site:channel'));
  });

  it('a Worker: the async handles it keeps on this loop', async () => {
    const check = leakCheck({ tracking: true, graceMs: 50 });
    check.begin();
    const worker = new Worker('setInterval(() => {}, 60_000)', { eval: true }); // site:worker
    await once(worker, 'online');
    const report = await check.end();
    const threadId = worker.threadId;
    await worker.terminate();
    await gone(report.leaks.map((l) => l.id));
    expect(report.leaks.length).toBeGreaterThanOrEqual(3);
    expect(report.leaks.every((l) => l.type === 'async')).toBe(true);
    expect(report.leaks.some((l) => l.stack?.includes(siteOf('// site:worker')))).toBe(true);
    // Named for the Worker, grouped as one entry with its thread id.
    const named = handles(report).filter((h) => h.resource === `MessagePort of Worker thread ${threadId}`);
    expect(named.length).toBeGreaterThanOrEqual(3);
    expect(formatLeakReport(report)).toContain(`${named.length} × async  active unref, owner -, module ${NODE} — MessagePort of Worker thread ${threadId}`);
  });

  it('raw uv handles a native addon made directly on the loop (no async_hooks resource, no stack)', async () => {
    for (const tracking of [true, false]) {
      const check = leakCheck({ tracking, graceMs: 50 });
      check.begin();
      const timer = fx.create('timer');
      fx.start(timer);
      const poll = fx.create('poll'); // never started: no callback set yet
      const report = await check.end();
      expect(handles(report)).toEqual([
        expect.objectContaining({ id: timer, type: 'timer', active: true, ref: true, module: FIXTURE_REALPATH, stack: null }),
        expect.objectContaining({ id: poll, type: 'poll', active: false, ref: true, fd: expect.any(Number) }),
      ]);
      await closeAll(fx);
    }
  });

  it('an owned handle is reported with its owner', async () => {
    const check = leakCheck({ tracking: true, graceMs: 50 });
    check.begin();
    const server = withOwner('leaks-test-plugin', () => net.createServer().listen(0));
    const report = await check.end();
    await closeServer(server);
    expect(report.leaks).toEqual([expect.objectContaining({ type: 'tcp', owner: 'leaks-test-plugin' })]);
  });

  it('a handle born at the address of one that existed at begin() and was closed since', async () => {
    const { server: old } = await listening();
    const check = leakCheck({ tracking: true, graceMs: 50 });
    check.begin();
    await closeServer(old);
    const fresh = net.createServer().listen(0);
    const report = await check.end();
    await closeServer(fresh);
    expect(types(report)).toEqual(['tcp']);
  });

  it('with tracking off: handles without stacks, and referenced JS timers counted', () => {
    // Without tracking, JS timers are found by difference in Node's count of
    // referenced timers, so a timer of the test runner ending during the
    // check could hide one: run it in a plain process that has no others.
    const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/index.js');
    const script = `
      const { leakCheck } = require(${JSON.stringify(dist)});
      const net = require('node:net');
      (async () => {
        const check = leakCheck({ graceMs: 50 });
        check.begin();
        const server = net.createServer().listen(0);
        const interval = setInterval(() => {}, 5_000);
        const report = await check.end();
        server.close();
        clearInterval(interval);
        console.log(JSON.stringify({ tracking: report.tracking, leaks: report.leaks }));
      })();`;
    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(child.status).toBe(0);
    const report = JSON.parse(child.stdout);
    expect(report.tracking).toBe(false);
    expect(report.leaks).toEqual([
      expect.objectContaining({ kind: 'handle', type: 'tcp', stack: null }),
      expect.objectContaining({ kind: 'timer', type: 'Timeout', id: 'timeout:?', stack: null }),
    ]);
  });
});

// ------------------------------------------------------- not reported ----

describe('not reported', () => {
  it('handles that existed before begin(), still alive at end()', async () => {
    await listening();
    const interval = setInterval(() => {}, 5_000);
    cleanups.push(() => clearInterval(interval));
    const check = leakCheck({ tracking: true, graceMs: 50 });
    check.begin();
    const report = await check.end();
    expect(report).toMatchObject({ ok: true, leaks: [], iterations: 0 });
  });

  it('a server closed within the test: end() returns without waiting when nothing is left', async () => {
    const check = leakCheck({ tracking: true });
    check.begin();
    const before = new Set(snapshot().map((h) => h.id));
    const server = net.createServer().listen(0);
    const ids = snapshot().filter((h) => !before.has(h.id)).map((h) => h.id);
    // Its 'close' event comes on nextTick, before libuv's close callback.
    await closeServer(server);
    await gone(ids);
    const report = await check.end();
    expect(report).toMatchObject({ ok: true, leaks: [], iterations: 0 });
  });

  it('a server still closing when the test returns (end() lets its close callback run)', async () => {
    const check = leakCheck({ tracking: true });
    check.begin();
    net.createServer().listen(0).close();
    const report = await check.end();
    expect(report).toMatchObject({ ok: true, leaks: [] });
    expect(report.iterations).toBeGreaterThan(0);
  });

  // The worker posts and ends while this thread is held: its message and its
  // 'exit' then come in one callback (Node's Worker drains its ports, closes
  // them and emits 'exit'), and its ports are still closing when the check
  // ends. Loop turns settle them: no grace (graceMs 0) is needed.
  it('a Worker gone before its message was read: its ports, closing at end(), finish within a few loop turns', async () => {
    const check = leakCheck({ tracking: true, graceMs: 0 });
    check.begin();
    const posted = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
      parentPort.postMessage('done');
      Atomics.store(workerData, 0, 1);
      Atomics.notify(workerData, 0);`,
      { eval: true, workerData: posted },
    );
    const exited = once(worker, 'exit');
    Atomics.wait(posted, 0, 0);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100); // its thread tears down meanwhile
    const [message] = await once(worker, 'message');
    await exited;
    const report = await check.end();
    expect(message).toBe('done');
    expect(report).toMatchObject({ ok: true, leaks: [] });
    expect(report.iterations).toBeLessThanOrEqual(3);
  });

  it('a server closed inside a close callback (its last connection’s), after the test returned', async () => {
    const check = leakCheck({ tracking: true, graceMs: 2_000 });
    check.begin();
    const server = net.createServer((socket) => {
      // Socket 'close' is emitted from libuv's close callback.
      socket.on('close', () => server.close());
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await once(client, 'connect');
    client.end(); // the test returns here: FIN, server side ends, closes, closes the server
    const report = await check.end();
    expect(report).toMatchObject({ ok: true, leaks: [] });
    expect(server.listening).toBe(false);
  });

  it('TCP sockets that finish closing after the test returned, within the grace', async () => {
    const { port } = await listening();
    const check = leakCheck({ tracking: true, graceMs: 2_000 });
    check.begin();
    const client = net.connect(port, '127.0.0.1');
    await once(client, 'connect');
    client.end();
    const report = await check.end();
    expect(report).toMatchObject({ ok: true, leaks: [] });
    expect(client.closed).toBe(true);
  });

  it('TLS sockets that finish closing after the test returned, within the grace', async () => {
    const server = tls.createServer({ key: TLS_KEY, cert: TLS_CERT }, (socket) => {
      socket.on('error', () => {});
      socket.resume();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => closeServer(server));
    const check = leakCheck({ tracking: true, graceMs: 2_000 });
    check.begin();
    const client = tls.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', ca: TLS_CERT, servername: 'localhost' });
    await once(client, 'secureConnect');
    client.end();
    const report = await check.end();
    expect(report).toMatchObject({ ok: true, leaks: [] });
  });

  it('a DNS resolver with a query in flight: Node’s c-ares socket and timer are its own', async () => {
    // A local UDP "name server" that never answers keeps the query in flight.
    const silent = dgram.createSocket('udp4');
    silent.bind(0, '127.0.0.1');
    await once(silent, 'listening');
    cleanups.push(() => new Promise<void>((resolve) => silent.close(() => resolve())));
    const check = leakCheck({ tracking: true, graceMs: 50 });
    check.begin();
    const resolver = new dns.Resolver({ timeout: 10_000, tries: 1 });
    resolver.setServers([`127.0.0.1:${silent.address().port}`]);
    const answered = new Promise<unknown>((resolve) => resolver.resolve4('example.invalid', (err) => resolve(err)));
    await once(silent, 'message');
    const report = await check.end();
    resolver.cancel();
    await answered;
    expect(report).toMatchObject({ ok: true, leaks: [] });
    expect(report.ignored).toBeGreaterThanOrEqual(1); // the query's uv_poll (and timer)
  });

  it('process.stdin, stdout and stderr made during the check (pipes), in a child process', async () => {
    const out = await runChild(STDIO_CHILD, ['pipe', 'pipe', 'pipe']);
    expect(out.report).toMatchObject({ ok: true, leaks: [] });
    expect(out.born.sort()).toEqual(['pipe', 'pipe', 'pipe']);
  });

  it.skipIf(!HAS_SCRIPT)('process.stdin, stdout and stderr made during the check (a TTY, with its SIGWINCH handle)', async () => {
    const out = await runUnderScript(STDIO_CHILD);
    expect(out.report).toMatchObject({ ok: true, leaks: [] });
    expect(out.born.sort()).toEqual(['signal', 'tty', 'tty', 'tty']);
  });
});

// ------------------------------------------------------------ options ----

describe('options', () => {
  it('graceMs: a socket that closes later than the grace is reported, one that closes within it is not', async () => {
    const { port } = await listening();
    for (const [graceMs, leaked] of [
      [10, true],
      [2_000, false],
    ] as const) {
      const check = leakCheck({ tracking: true, graceMs });
      check.begin();
      const client = net.connect(port, '127.0.0.1');
      await once(client, 'connect');
      const timer = setTimeout(() => client.destroy(), 200);
      const report = await check.end();
      expect(report.ok).toBe(!leaked);
      if (leaked) {
        expect(types(report)).toEqual(['Timeout', 'tcp', 'tcp']);
        expect(report.waitedMs).toBeGreaterThanOrEqual(10);
        clearTimeout(timer);
        await destroySocket(client);
      } else {
        expect(report.waitedMs).toBeGreaterThanOrEqual(150);
      }
    }
  });

  it('ignoreTypes, ignoreModules and ignore(leak) leave out what they match, and count it', async () => {
    const run = async (options: Parameters<typeof leakCheck>[0]) => {
      const check = leakCheck({ tracking: true, graceMs: 20, ...options });
      check.begin();
      const server = net.createServer().listen(0);
      const interval = setInterval(() => {}, 5_000);
      const raw = fx.create('timer');
      fx.start(raw);
      const report = await check.end();
      await closeServer(server);
      clearInterval(interval);
      await closeAll(fx);
      return report;
    };
    expect(types(await run({}))).toEqual(['Timeout', 'tcp', 'timer']);
    expect(await run({ ignoreTypes: ['tcp', 'Timeout'] })).toMatchObject({ ignored: 2, leaks: [{ type: 'timer' }] });
    expect(types(await run({ ignoreModules: [FIXTURE_REALPATH] }))).toEqual(['Timeout', 'tcp']);
    expect(types(await run({ ignoreModules: [/uv_drain_fixture\.node$/, NODE] }))).toEqual(['Timeout']);
    const seen: Leak[] = [];
    const report = await run({ ignore: (leak) => (seen.push(leak), leak.kind === 'timer') });
    expect(types(report)).toEqual(['tcp', 'timer']);
    // The predicate sees the whole leak, stack included.
    expect(seen.find((l) => l.kind === 'timer')?.stack).toContain(THIS_FILE_NAME);
  });

  it('rejects bad options with errors that name them', () => {
    expect(() => leakCheck({ graceMs: -1 })).toThrow(RangeError);
    expect(() => leakCheck({ graceMs: '5' as unknown as number })).toThrow(/"graceMs" option must be a number/);
    expect(() => leakCheck({ tracking: 1 as unknown as boolean })).toThrow(/"tracking" argument must be a boolean/);
    expect(() => leakCheck({ ignoreTypes: 'tcp' as unknown as string[] })).toThrow(/"ignoreTypes" option/);
    expect(() => leakCheck({ ignoreModules: [1] as unknown as string[] })).toThrow(/"ignoreModules" option/);
    expect(() => leakCheck({ ignore: 'x' as unknown as () => boolean })).toThrow(/"ignore" argument must be a function/);
    expect(() => leakCheck(null as unknown as object)).toThrow(TypeError);
  });

  it('end() without begin() rejects with UVD_ERR_NOT_BEGUN; a check can be begun again after end()', async () => {
    const check = leakCheck();
    await expect(check.end()).rejects.toMatchObject({ code: 'UVD_ERR_NOT_BEGUN' });
    await expect(check.end()).rejects.toBeInstanceOf(UvDrainError);
    check.begin();
    expect((await check.end()).ok).toBe(true);
    check.begin();
    check.cancel();
    await expect(check.end()).rejects.toMatchObject({ code: 'UVD_ERR_NOT_BEGUN' });
    check.begin();
    expect((await check.end()).ok).toBe(true);
  });
});

describe('retention', () => {
  // A real garbage collection, without --expose-gc on the command line.
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;

  it('a running check (tracking on) keeps nothing of the test alive: what a timer that ran kept is collected', async () => {
    const check = leakCheck({ tracking: true });
    check.begin();
    let collected = false;
    const registry = new FinalizationRegistry(() => (collected = true));
    ((): void => {
      const request = { body: new Array(10_000).fill(1) };
      registry.register(request, 'request');
      setTimeout(() => void request.body.length, 1);
    })();
    await new Promise((resolve) => setTimeout(resolve, 20)); // the timer ran
    for (let i = 0; i < 20 && !collected; i++) {
      gc();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(collected).toBe(true);
    expect((await check.end()).ok).toBe(true);
  });

  it('a live timer’s creation stack keeps nothing of the code that made it (not the receiver of a frame)', async () => {
    const check = leakCheck({ tracking: true });
    check.begin();
    let collected = false;
    const registry = new FinalizationRegistry(() => (collected = true));
    function arm(this: object): NodeJS.Timeout {
      return setTimeout(() => {}, 60_000); // site:receiver
    }
    const timer = ((): NodeJS.Timeout => {
      const response = { body: new Array(10_000).fill(1) };
      registry.register(response, 'response');
      return arm.call(response);
    })();
    for (let i = 0; i < 20 && !collected; i++) {
      gc();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(collected).toBe(true);
    const report = await check.end();
    clearTimeout(timer);
    // The stack is still there, formatted.
    expect(report.leaks.map((l) => l.stack).join('\n')).toContain(siteOf('// site:receiver'));
  });
});

describe('formatLeakReport()', () => {
  it('gives one block per leak with type, id, state, fd, owner, module and stack, in plain text unless asked for colour', async () => {
    const check = leakCheck({ tracking: true, graceMs: 20 });
    check.begin();
    const server = withOwner('leaks-format', () => net.createServer().listen(0)); // site:format
    const report = await check.end();
    await closeServer(server);
    const text = formatLeakReport(report);
    const h = handles(report)[0];
    expect(text).toContain('uv-drain: 1 handle born since the check began still alive after');
    expect(text).toContain(`tcp ${h.id}  active ref, fd ${h.fd}, owner leaks-format, module ${NODE} — TCP server `);
    expect(h.resource).toMatch(/^TCP server (\[?::\]?|0\.0\.0\.0):\d+$/);
    expect(text).toContain(siteOf('// site:format'));
    expect(text).not.toContain('\u001b[');
    expect(formatLeakReport(report, { color: true })).toContain('\u001b[1mtcp\u001b[22m');
    expect(formatLeakReport({ ...report, ok: true, leaks: [] })).toBe('uv-drain: nothing leaked');
  });

  it('alike leaks (same type, state, owner, module, stack) are one entry; at most 20 entries, then how many more', async () => {
    const check = leakCheck({ tracking: true, graceMs: 20 });
    check.begin();
    const servers: net.Server[] = [];
    for (let i = 0; i < 30; i++) servers.push(net.createServer().listen(0)); // site:alike
    const timers: NodeJS.Timeout[] = [];
    for (let i = 0; i < 25; i++) timers.push(setTimeout(() => {}, 60_000 + i)); // site:distinct
    const report = await check.end();
    for (const t of timers) clearTimeout(t);
    await Promise.all(servers.map(closeServer));
    expect(report.leaks.length).toBe(55);
    const text = formatLeakReport(report);
    expect(text).toContain(`30 × tcp  active ref, owner -, module ${NODE} — TCP server`);
    expect(text.split('\n').filter((l) => l.includes(siteOf('// site:alike'))).length).toBe(1);
    // 1 group of servers and 19 of the 25 distinct timers shown, 6 timers not.
    expect(text.split('\n').filter((l) => /^ {2}Timeout /.test(l)).length).toBe(19);
    expect(text).toContain("… and 6 more (the full list is the report's `leaks`)");
  });

  it('LeakError carries the report and code UVD_ERR_LEAK', () => {
    const report: LeakReport = { ok: false, leaks: [], ignored: 0, waitedMs: 0, iterations: 0, tracking: false };
    const error = new LeakError('leaked', report);
    expect(error).toBeInstanceOf(UvDrainError);
    expect(error).toMatchObject({ code: 'UVD_ERR_LEAK', report, name: 'LeakError' });
  });
});

// ------------------------------------------------------------ helpers ----

function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const closed = once(child, 'close').then(() => undefined);
  child.kill();
  return closed;
}

// Makes process.stdin/stdout/stderr for the first time inside a check and
// prints the report plus the types of the handles that were born.
const STDIO_CHILD = `
const { leakCheck, snapshot } = require(${JSON.stringify(DIST)});
(async () => {
  const before = new Set(snapshot().map((h) => h.id));
  const check = leakCheck({ tracking: true, graceMs: 50 });
  check.begin();
  void process.stdin, process.stdout, process.stderr;
  const born = snapshot().filter((h) => !before.has(h.id)).map((h) => h.type);
  const report = await check.end();
  require('fs').writeSync(1, 'UVD ' + JSON.stringify({ report, born }) + '\\n');
  process.stdin.destroy();
})();
`;

async function runChild(code: string, stdio: ('pipe' | 'inherit')[]): Promise<{ report: LeakReport; born: string[] }> {
  const child = spawn(process.execPath, ['-e', code], { stdio });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  let err = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (err += s));
  const [codeOut] = (await once(child, 'close')) as [number];
  expect(codeOut, err).toBe(0);
  return parseUvd(out);
}

async function runUnderScript(code: string): Promise<{ report: LeakReport; born: string[] }> {
  const file = path.join(os.tmpdir(), `uv-drain-stdio-${process.pid}.cjs`);
  fs.writeFileSync(file, code);
  cleanups.push(() => fs.rmSync(file, { force: true }));
  // stdin stays open: script(1) would send the pty an EOF when it ends.
  const child = spawn('script', ['-qec', `'${process.execPath}' '${file}'`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.resume();
  await once(child, 'exit');
  child.stdin.end();
  await until(() => child.stdout.closed && child.stderr.closed, 'the script(1) pipes to close');
  return parseUvd(out);
}

function parseUvd(out: string): { report: LeakReport; born: string[] } {
  const line = out.split(/\r?\n/).find((l) => l.startsWith('UVD '));
  expect(line, `child output: ${out}`).toBeDefined();
  return JSON.parse(line!.slice(4));
}

// A self-signed certificate for CN=localhost (EC P-256, valid until 2126),
// made once with: openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500 -subj /CN=localhost
const TLS_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQge6h73lO3H4woMd+i
YeiX1Y8rVIIx00f1kyzRCgQaDAehRANCAARMPxsQxU5CHmTOKri/ubrwHhIYY5bd
UXBKE7C9ePTvvLhHn+AJOrw+yvtZEbz1aJXTeSbfcjxBYWYzE1g1q/tE
-----END PRIVATE KEY-----
`;
const TLS_CERT = `-----BEGIN CERTIFICATE-----
MIIBfzCCASWgAwIBAgIUTg/BXJN/yQ4MRZIlcVHnHUg/zTcwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyNzExNDkzNVoYDzIxMjYxMTAz
MTE0OTM1WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAARMPxsQxU5CHmTOKri/ubrwHhIYY5bdUXBKE7C9ePTvvLhHn+AJOrw+
yvtZEbz1aJXTeSbfcjxBYWYzE1g1q/tEo1MwUTAdBgNVHQ4EFgQURAG9QMHq3Wmt
P9HRvg74bf0njLkwHwYDVR0jBBgwFoAURAG9QMHq3WmtP9HRvg74bf0njLkwDwYD
VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEAuqpIDAzp7uJwmigrilbj
UVKGGRyuDfs1rASAi8hAsWACIHbm5zWGbAgg72SP+MoWkAGkFThtO1EiP8Bfk30x
uMPu
-----END CERTIFICATE-----
`;
