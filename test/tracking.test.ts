// Owner tracking (trackOwners(true)): handles born in the async
// continuations of withOwner() code are the owner's; handles Node makes for
// itself while an owner happens to be current are nobody's.
import { describe, expect, it } from 'vitest';
import { AsyncResource } from 'node:async_hooks';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as dns from 'node:dns';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker } from 'node:worker_threads';
import { countsByOwner, countsFor, snapshot, trackOwners, withOwner, type HandleInfo } from '../dist/index.js';
import { baselinePerTest, closeServer, destroySocket, until, untilNoHandles } from './helpers';

const FIRST_STDIO_WRITE = fileURLToPath(new URL('./workers/first-stdio-write.mjs', import.meta.url));

/** Sorted handle types of `owner`, as snapshot() sees them. */
function typesOf(owner: string): string[] {
  return snapshot()
    .filter((h) => h.owner === owner)
    .map((h) => h.type)
    .sort();
}

function handleWithFd(fd: number | undefined): HandleInfo | undefined {
  expect(typeof fd).toBe('number');
  return snapshot().find((h) => h.fd === fd);
}

function fdOf(socket: net.Socket): number | undefined {
  return (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
}

/** Runs a child `node` process and collects its output. */
function runNode(
  command: string,
  args: string[],
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

interface StdioReport {
  born: HandleInfo[];
  counts: ReturnType<typeof countsFor>;
  byOwner: ReturnType<typeof countsByOwner>;
}

function lastJsonLine(output: string): StdioReport {
  const lines = output.split(/\r?\n/).filter((line) => line.startsWith('{'));
  expect(lines.length).toBeGreaterThan(0);
  return JSON.parse(lines[lines.length - 1]) as StdioReport;
}

// Atomics.waitAsync (V8 >= 8.7, Node 16+) is not in TypeScript's ES2022 lib.
const atomics = Atomics as unknown as {
  waitAsync(
    cells: Int32Array,
    index: number,
    value: number,
    timeoutMs: number,
  ): { async: boolean; value: Promise<'ok' | 'timed-out'> | 'not-equal' | 'timed-out' };
};

const NOTHING = { total: 0, active: 0, ref: 0, closing: 0, requests: 0, timers: 0 };

describe('owner tracking in async continuations', () => {
  const cleanups: Array<() => unknown> = [];
  const owners = new Set<string>();

  /** Registers `name` so that afterEach waits for its handles to be gone. */
  function owner(name: string): string {
    owners.add(name);
    return name;
  }

  const baseline = baselinePerTest({
    async tidy() {
      trackOwners(false);
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
      const names = [...owners];
      owners.clear();
      for (const name of names) await untilNoHandles(name);
    },
  });

  it('a server that listens after a DNS lookup of localhost is the owner’s', async () => {
    const o = owner('dns-server');
    trackOwners(true);
    const server = await withOwner(o, async () => {
      const s = net.createServer();
      s.listen(0, 'localhost');
      await once(s, 'listening');
      return s;
    });
    cleanups.push(() => closeServer(server));
    expect(countsFor(o)).toEqual({ total: 1, active: 1, ref: 1, closing: 0, requests: 0, timers: 0 });
    expect(typesOf(o)).toEqual(['tcp']);
  });

  it('a connection accepted later by the owner’s server is the owner’s', async () => {
    const o = owner('accepting-server');
    trackOwners(true);
    const server = await withOwner(o, async () => {
      const s = net.createServer();
      s.listen(0, 'localhost');
      await once(s, 'listening');
      return s;
    });
    cleanups.push(() => closeServer(server));
    const accepted = once(server, 'connection') as Promise<[net.Socket]>;
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    cleanups.push(() => destroySocket(client));
    const [[socket]] = await Promise.all([accepted, once(client, 'connect')]);
    cleanups.push(() => destroySocket(socket));
    expect(handleWithFd(fdOf(socket))?.owner).toBe(o);
    expect(countsFor(o)).toEqual({ total: 2, active: 2, ref: 2, closing: 0, requests: 0, timers: 0 });
  });

  it('a client socket that connects from outside the owner is not the owner’s', async () => {
    const o = owner('connected-server');
    trackOwners(true);
    const server = await withOwner(o, async () => {
      const s = net.createServer();
      s.listen(0, 'localhost');
      await once(s, 'listening');
      return s;
    });
    cleanups.push(() => closeServer(server));
    const accepted = once(server, 'connection') as Promise<[net.Socket]>;
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    cleanups.push(() => destroySocket(client));
    const [[socket]] = await Promise.all([accepted, once(client, 'connect')]);
    cleanups.push(() => destroySocket(socket));
    expect(handleWithFd(fdOf(client))).toMatchObject({ type: 'tcp', owner: null });
  });

  it('a child process spawned after an await is the owner’s, with its three stdio pipes', async () => {
    const o = owner('spawner');
    trackOwners(true);
    const child: ChildProcess = await withOwner(o, async () => {
      await Promise.resolve();
      return spawn(process.execPath, ['-e', 'process.stdin.resume()']);
    });
    const closed = once(child, 'close');
    cleanups.push(async () => {
      child.stdin?.end();
      await closed;
    });
    // stdin is written, not read: its pipe is not active.
    expect(countsFor(o)).toEqual({ total: 4, active: 3, ref: 4, closing: 0, requests: 0, timers: 0 });
    expect(typesOf(o)).toEqual(['pipe', 'pipe', 'pipe', 'process']);
  });

  it('a UDP socket bound after a promise settles is the owner’s', async () => {
    const o = owner('udp');
    trackOwners(true);
    const socket = await withOwner(o, async () => {
      await new Promise<void>((resolve) => queueMicrotask(resolve));
      const s = dgram.createSocket('udp4');
      s.bind(0, '127.0.0.1');
      await once(s, 'listening');
      return s;
    });
    cleanups.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
    expect(countsFor(o)).toEqual({ total: 1, active: 1, ref: 1, closing: 0, requests: 0, timers: 0 });
    expect(typesOf(o)).toEqual(['udp']);
  });

  it('an fs.watch watcher started after an await is the owner’s', async () => {
    const o = owner('fs-watch');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uv-drain-watch-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    trackOwners(true);
    const watcher = await withOwner(o, async () => {
      await fs.promises.access(dir);
      return fs.watch(dir);
    });
    cleanups.push(() => watcher.close());
    expect(countsFor(o)).toEqual({ total: 1, active: 1, ref: 1, closing: 0, requests: 0, timers: 0 });
    expect(typesOf(o)).toEqual(['fs_event']);
  });

  it('an fs.watchFile poller started after an await is the owner’s', async () => {
    const o = owner('fs-watch-file');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uv-drain-watchfile-'));
    const file = path.join(dir, 'watched.txt');
    fs.writeFileSync(file, 'x');
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const listener = () => {};
    trackOwners(true);
    await withOwner(o, async () => {
      await fs.promises.access(file);
      fs.watchFile(file, { interval: 60_000 }, listener);
    });
    cleanups.push(() => fs.unwatchFile(file, listener));
    // fs_poll's inner timer is a libuv-internal handle: uv_walk skips it.
    expect(countsFor(o)).toEqual({ total: 1, active: 1, ref: 1, closing: 0, requests: 0, timers: 0 });
    expect(typesOf(o)).toEqual(['fs_poll']);
  });

  it('a MessageChannel made after an await is the owner’s: one unref’d async handle per port', async () => {
    const o = owner('ports');
    trackOwners(true);
    const channel = await withOwner(o, async () => {
      await Promise.resolve();
      return new MessageChannel();
    });
    cleanups.push(() => {
      channel.port1.close();
      channel.port2.close();
    });
    expect(countsFor(o)).toEqual({ total: 2, active: 2, ref: 0, closing: 0, requests: 0, timers: 0 });
    expect(typesOf(o)).toEqual(['async', 'async']);
  });

  it('the main-thread handles of a Worker made after an await are the owner’s until it exits', async () => {
    const o = owner('worker-parent');
    trackOwners(true);
    const worker = await withOwner(o, async () => {
      await Promise.resolve();
      return new Worker(
        "require('node:worker_threads').parentPort.once('message', () => process.exit(0))",
        { eval: true },
      );
    });
    const exited = once(worker, 'exit');
    cleanups.push(async () => {
      worker.postMessage('exit');
      await exited;
    });
    await once(worker, 'online');
    // The Worker's own port and the kept ends of the two channels it sets up;
    // the transferred ends close on this thread once the worker has them.
    await until(() => countsFor(o).closing === 0, 'the transferred ports to finish closing');
    expect(countsFor(o)).toEqual({ total: 3, active: 3, ref: 0, closing: 0, requests: 0, timers: 0 });
    expect(typesOf(o)).toEqual(['async', 'async', 'async']);
  });

  it('a child spawned by code bound outside the owner, right after the owner’s spawn threw, is nobody’s', async () => {
    const o = owner('failed-spawn');
    trackOwners(true);
    // The throwing spawn announces its process handle but never makes it.
    const spawnOutside = AsyncResource.bind(() => spawn(process.execPath, ['-e', 'process.stdin.resume()']));
    const child: ChildProcess = await withOwner(o, async () => {
      await Promise.resolve();
      expect(() =>
        spawn(process.execPath, ['-e', '0'], { stdio: ['pipe', 'pipe', 'pipe', 'ipc', 'ipc'] }),
      ).toThrow(expect.objectContaining({ code: 'ERR_IPC_ONE_PIPE' }));
      return spawnOutside();
    });
    const closed = once(child, 'close');
    cleanups.push(async () => {
      child.stdin?.end();
      await closed;
    });
    const childHandles = snapshot().filter(
      (h) => !baseline().has(h.id) && !h.closing && (h.type === 'process' || h.type === 'pipe'),
    );
    expect(childHandles.map((h) => [h.type, h.owner])).toEqual([
      ['pipe', null],
      ['pipe', null],
      ['pipe', null],
      ['process', null],
    ]);
  });

  it('two owners working side by side each get only their own handles', async () => {
    const a = owner('side-a');
    const b = owner('side-b');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uv-drain-side-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    trackOwners(true);
    const [fromA, fromB] = await Promise.all([
      withOwner(a, async () => {
        const server = net.createServer();
        server.listen(0, 'localhost');
        await once(server, 'listening');
        const socket = dgram.createSocket('udp4');
        socket.bind(0, '127.0.0.1');
        await once(socket, 'listening');
        return { server, socket };
      }),
      withOwner(b, async () => {
        await dns.promises.lookup('localhost');
        const channel = new MessageChannel();
        await fs.promises.access(dir);
        const watcher = fs.watch(dir);
        return { channel, watcher };
      }),
    ]);
    cleanups.push(
      () => closeServer(fromA.server),
      () => new Promise<void>((resolve) => fromA.socket.close(() => resolve())),
      () => fromB.channel.port1.close(),
      () => fromB.watcher.close(),
    );
    expect(countsFor(a)).toEqual({ total: 2, active: 2, ref: 2, closing: 0, requests: 0, timers: 0 });
    expect(countsFor(b)).toEqual({ total: 3, active: 3, ref: 1, closing: 0, requests: 0, timers: 0 });
    expect(typesOf(a)).toEqual(['tcp', 'udp']);
    expect(typesOf(b)).toEqual(['async', 'async', 'fs_event']);
    const byOwner = countsByOwner();
    expect(byOwner[a]).toEqual(countsFor(a));
    expect(byOwner[b]).toEqual(countsFor(b));
  });

  it('without tracking, a handle born after an await inside withOwner is nobody’s', async () => {
    const o = owner('untracked');
    const server = await withOwner(o, async () => {
      await Promise.resolve();
      return net.createServer().listen(0, '127.0.0.1');
    });
    cleanups.push(() => closeServer(server));
    await once(server, 'listening');
    expect(countsFor(o)).toEqual(NOTHING);
    expect(snapshot().filter((h) => !baseline().has(h.id) && h.type === 'tcp')).toMatchObject([{ owner: null }]);
  });

  it('Node’s delayed-task timer for a task posted inside an owner is nobody’s', async () => {
    const o = owner('delayed-task');
    const cells = new Int32Array(new SharedArrayBuffer(4));
    trackOwners(true);
    // V8 posts the timeout of Atomics.waitAsync as a delayed platform task;
    // Node's platform makes an unref'd uv timer for it on this loop.
    const wait = await withOwner(o, async () => {
      await Promise.resolve();
      return atomics.waitAsync(cells, 0, 0, 50);
    });
    expect(wait.async).toBe(true);
    const newTimers = () => snapshot().filter((h) => !baseline().has(h.id) && h.type === 'timer');
    await until(() => newTimers().length > 0, 'the platform to start its delayed-task timer');
    // (The platform may run another delayed task of its own meanwhile: all are nobody's.)
    expect(newTimers().filter((h) => h.owner !== null || h.ref)).toEqual([]);
    expect(countsFor(o)).toEqual(NOTHING);
    expect(await wait.value).toBe('timed-out');
  });

  describe('Node’s stdio streams made lazily inside an owner are nobody’s', () => {
    for (const stream of ['stdout', 'stderr'] as const) {
      for (const mode of ['sync', 'async'] as const) {
        it(`a ${stream} pipe first written ${mode === 'sync' ? 'synchronously inside' : 'in an async continuation of'} an owner is nobody’s`, async () => {
          const { code, signal, stdout, stderr } = await runNode(process.execPath, [FIRST_STDIO_WRITE, stream, mode]);
          expect({ code, signal }).toEqual({ code: 0, signal: null });
          expect(stream === 'stdout' ? stdout : stderr).toMatch(/^hello\n/);
          const report = lastJsonLine(stdout);
          // Leaving out the platform's transient delayed-task timers, if any ran.
          const born = report.born.filter((h) => h.type !== 'timer');
          expect(born).toMatchObject([{ type: 'pipe', fd: stream === 'stdout' ? 1 : 2, owner: null }]);
          expect(report.counts).toEqual(NOTHING);
          expect(report.byOwner).toEqual({});
        });
      }
    }

    // util-linux `script` runs the child on a pseudo-terminal.
    const haveScript = spawnSync('script', ['--version']).status === 0;
    it.skipIf(!haveScript)('a stdout tty and its SIGWINCH handle, first written in an async continuation of an owner, are nobody’s', async () => {
      const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(FIRST_STDIO_WRITE)} stdout async`;
      const { code, signal, stdout } = await runNode('script', ['-qfec', command, '/dev/null']);
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      const report = lastJsonLine(stdout);
      const born = report.born.filter((h) => h.type !== 'timer');
      expect(born.map((h) => ({ type: h.type, owner: h.owner }))).toEqual([
        { type: 'tty', owner: null },
        { type: 'signal', owner: null },
      ]);
      expect(report.counts).toEqual(NOTHING);
      expect(report.byOwner).toEqual({});
    });
  });
});
