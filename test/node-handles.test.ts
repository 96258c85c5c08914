// Node's own handle kinds, attributed by withOwner's *synchronous* scope
// (trackOwners stays off in this file): a handle is the owner's exactly when
// libuv creates it while `fn` runs. Every count below is exact and was read
// from a real handle on this thread's loop.
import { beforeEach, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tty from 'node:tty';
import { MessageChannel, Worker } from 'node:worker_threads';
import { countsFor, snapshot, stats, trackOwners, withOwner } from '../dist/index.js';
import { baselinePerTest, closeServer, destroySocket, expectBackAtBaseline, loopTotals, movedBy, uniqueName, until, untilNoHandles } from './helpers';

interface HandleCounts {
  total: number;
  active: number;
  ref: number;
  closing: number;
}

const NONE: HandleCounts = { total: 0, active: 0, ref: 0, closing: 0 };

function counts(total: number, active: number, ref: number, closing: number): HandleCounts {
  return { total, active, ref, closing };
}

/** The handle part of countsFor(owner). */
function handles(owner: string): HandleCounts {
  const { total, active, ref, closing } = countsFor(owner);
  return { total, active, ref, closing };
}

/** type and kind of fd of every handle snapshot() gives to `owner`, in creation order. */
function ownedShape(owner: string): { type: string; fd: string }[] {
  return snapshot()
    .filter((h) => h.owner === owner)
    .map((h) => ({ type: h.type, fd: h.fd === null ? 'null' : typeof h.fd }));
}

/** A fresh owner name per test: owner ids live as long as the loop. */
const newOwner = (kind: string) => uniqueName(`node-handles/${kind}/`);

let tmp: string | null = null;
function tempDir(): string {
  tmp ??= fs.mkdtempSync(path.join(os.tmpdir(), 'uv-drain-node-handles-'));
  return tmp;
}

// Each test checks the loop is back at its baseline itself, where it chooses.
const baseline = baselinePerTest({
  before: () => trackOwners(false),
  tidy() {
    if (tmp !== null) fs.rmSync(tmp, { recursive: true, force: true });
    tmp = null;
  },
  check: false,
});

// ---------------------------------------------------------------- tcp ----

/** An untagged loopback server and its port. */
async function loopbackServer(): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as net.AddressInfo).port };
}

describe('tcp server', () => {
  // listen(port) without a host binds synchronously; with a host, Node first
  // resolves it (dns.lookup answers an IP literal on nextTick) and only then
  // creates the handle. The owned-server tests therefore listen on port 0
  // alone (all interfaces); clients still connect over 127.0.0.1.
  it('counts a listening server as one active, referenced tcp handle of its owner', async () => {
    const owner = newOwner('tcp-server');
    expect(handles(owner)).toEqual(NONE);
    const server = withOwner(owner, () => net.createServer().listen(0));
    expect(handles(owner)).toEqual(counts(1, 1, 1, 0));
    await closeServer(server);
    await untilNoHandles(owner);
    await expectBackAtBaseline(baseline());
  });

  it('lists the server in snapshot() as a tcp handle with a numeric fd', async () => {
    const owner = newOwner('tcp-server');
    const server = withOwner(owner, () => net.createServer().listen(0));
    expect(ownedShape(owner)).toEqual([{ type: 'tcp', fd: 'number' }]);
    await closeServer(server);
    await untilNoHandles(owner);
    await expectBackAtBaseline(baseline());
  });

  it('drops the server from the ref count after unref()', async () => {
    const owner = newOwner('tcp-server');
    const server = withOwner(owner, () => net.createServer().listen(0));
    server.unref();
    expect(handles(owner)).toEqual(counts(1, 1, 0, 0));
    await closeServer(server);
    await untilNoHandles(owner);
    await expectBackAtBaseline(baseline());
  });

  it('counts the server as closing right after close(), before its close callback', async () => {
    const owner = newOwner('tcp-server');
    const server = withOwner(owner, () => net.createServer().listen(0));
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // uv_close() has run; the close callback waits for the closing phase.
    expect(handles(owner)).toEqual(counts(1, 0, 1, 1));
    await closed;
    await untilNoHandles(owner);
    await expectBackAtBaseline(baseline());
  });

  it('counts nothing for the owner once the close callback has run', async () => {
    const owner = newOwner('tcp-server');
    const before = loopTotals();
    const server = withOwner(owner, () => net.createServer().listen(0));
    const [id] = snapshot().filter((h) => h.owner === owner).map((h) => h.id);
    server.close();
    // libuv removes the handle from its queue right before the close callback.
    await until(() => !snapshot().some((h) => h.id === id), 'the server close callback');
    expect(handles(owner)).toEqual(NONE);
    expect(movedBy(before, loopTotals(), [id!]).handles).toBe(0);
    await expectBackAtBaseline(baseline());
  });

  it('does not give the owner a server listening on a host: its handle is born after withOwner returned', async () => {
    const owner = newOwner('tcp-server-host');
    const server = withOwner(owner, () => net.createServer().listen(0, '127.0.0.1'));
    expect(handles(owner)).toEqual(NONE);
    await once(server, 'listening');
    expect(handles(owner)).toEqual(NONE);
    const fresh = snapshot().filter((h) => !baseline().has(h.id) && h.type === 'tcp');
    expect(fresh.map((h) => h.owner)).toEqual([null]);
    await closeServer(server);
    await until(() => stats().closing === 0, 'the server close callback');
    await expectBackAtBaseline(baseline());
  });
});

describe('tcp client socket and the accepted socket', () => {
  it('counts a connecting client as one referenced, not yet active tcp handle without an fd', async () => {
    const owner = newOwner('tcp-client');
    const { server, port } = await loopbackServer();
    const client = withOwner(owner, () => net.connect(port, '127.0.0.1'));
    // The handle exists; connect() itself runs on nextTick, after the lookup.
    expect(handles(owner)).toEqual(counts(1, 0, 1, 0));
    expect(ownedShape(owner)).toEqual([{ type: 'tcp', fd: 'null' }]);
    const accepted = once(server, 'connection');
    await once(client, 'connect');
    await destroySocket(client);
    await destroySocket((await accepted)[0] as net.Socket);
    await closeServer(server);
    await untilNoHandles(owner);
    await expectBackAtBaseline(baseline());
  });

  it('counts the connected client as one active, referenced tcp handle with a numeric fd', async () => {
    const owner = newOwner('tcp-client');
    const { server, port } = await loopbackServer();
    const accepted = once(server, 'connection');
    const client = withOwner(owner, () => net.connect(port, '127.0.0.1'));
    await once(client, 'connect');
    expect(handles(owner)).toEqual(counts(1, 1, 1, 0));
    expect(ownedShape(owner)).toEqual([{ type: 'tcp', fd: 'number' }]);
    await destroySocket(client);
    await destroySocket((await accepted)[0] as net.Socket);
    await closeServer(server);
    await untilNoHandles(owner);
    await expectBackAtBaseline(baseline());
  });

  it('does not give the accepted socket to the owner of the server: it is born in a libuv callback', async () => {
    const owner = newOwner('tcp-accept');
    const server = withOwner(owner, () => net.createServer().listen(0));
    const port = (server.address() as net.AddressInfo).port;
    const accepted = once(server, 'connection');
    const client = net.connect(port, '127.0.0.1');
    const [socket] = (await accepted) as [net.Socket];
    await once(client, 'connect');
    // Only the server: neither the accepted socket nor the (untagged) client.
    expect(handles(owner)).toEqual(counts(1, 1, 1, 0));
    const freshTcp = snapshot().filter((h) => !baseline().has(h.id) && h.type === 'tcp');
    expect(freshTcp.map((h) => h.owner)).toEqual([owner, null, null]);
    await destroySocket(socket);
    await destroySocket(client);
    await closeServer(server);
    await untilNoHandles(owner);
    await expectBackAtBaseline(baseline());
  });

  it('drops the client from the ref count after unref()', async () => {
    const owner = newOwner('tcp-client');
    const { server, port } = await loopbackServer();
    const accepted = once(server, 'connection');
    const client = withOwner(owner, () => net.connect(port, '127.0.0.1'));
    await once(client, 'connect');
    client.unref();
    expect(handles(owner)).toEqual(counts(1, 1, 0, 0));
    await destroySocket(client);
    await destroySocket((await accepted)[0] as net.Socket);
    await closeServer(server);
    await untilNoHandles(owner);
    await expectBackAtBaseline(baseline());
  });

  it('counts the client as closing right after destroy(), before its close callback', async () => {
    const owner = newOwner('tcp-client');
    const { server, port } = await loopbackServer();
    const accepted = once(server, 'connection');
    const client = withOwner(owner, () => net.connect(port, '127.0.0.1'));
    await once(client, 'connect');
    const closed = once(client, 'close');
    client.destroy();
    expect(handles(owner)).toEqual(counts(1, 0, 1, 1));
    await closed;
    await destroySocket((await accepted)[0] as net.Socket);
    await closeServer(server);
    await untilNoHandles(owner);
    await expectBackAtBaseline(baseline());
  });

  it("counts nothing for the owner in the client close event, which libuv's close callback emits", async () => {
    const owner = newOwner('tcp-client');
    const { server, port } = await loopbackServer();
    const accepted = once(server, 'connection');
    const client = withOwner(owner, () => net.connect(port, '127.0.0.1'));
    await once(client, 'connect');
    let inClose: HandleCounts | null = null;
    client.on('close', () => {
      inClose = handles(owner);
    });
    client.destroy();
    await until(() => inClose !== null, 'the client close event');
    expect(inClose).toEqual(NONE);
    await destroySocket((await accepted)[0] as net.Socket);
    await closeServer(server);
    await expectBackAtBaseline(baseline());
  });
});

// --------------------------------------------------------------- pipe ----

describe('pipe (unix socket)', () => {
  it('counts a listening pipe server as one active, referenced pipe handle with a numeric fd', async () => {
    const owner = newOwner('pipe-server');
    const server = withOwner(owner, () => net.createServer().listen(path.join(tempDir(), 's.sock')));
    expect(handles(owner)).toEqual(counts(1, 1, 1, 0));
    expect(ownedShape(owner)).toEqual([{ type: 'pipe', fd: 'number' }]);
    await closeServer(server);
    await untilNoHandles(owner);
    await expectBackAtBaseline(baseline());
  });

  it('counts a connecting pipe client as one referenced, not yet active pipe handle with a numeric fd', async () => {
    const owner = newOwner('pipe-client');
    const socketPath = path.join(tempDir(), 'c.sock');
    const server = net.createServer().listen(socketPath);
    await once(server, 'listening');
    const accepted = once(server, 'connection');
    const client = withOwner(owner, () => net.connect(socketPath));
    // uv_pipe_connect made the socket at once; the handle is active once connected.
    expect(handles(owner)).toEqual(counts(1, 0, 1, 0));
    expect(ownedShape(owner)).toEqual([{ type: 'pipe', fd: 'number' }]);
    await once(client, 'connect');
    expect(handles(owner)).toEqual(counts(1, 1, 1, 0));
    await destroySocket(client);
    await destroySocket((await accepted)[0] as net.Socket);
    await closeServer(server);
    await untilNoHandles(owner);
    await expectBackAtBaseline(baseline());
  });

  it('does not give the accepted pipe to the owner of the pipe server', async () => {
    const owner = newOwner('pipe-accept');
    const socketPath = path.join(tempDir(), 'a.sock');
    const server = withOwner(owner, () => net.createServer().listen(socketPath));
    const accepted = once(server, 'connection');
    const client = net.connect(socketPath);
    const [socket] = (await accepted) as [net.Socket];
    await once(client, 'connect');
    expect(handles(owner)).toEqual(counts(1, 1, 1, 0));
    const freshPipes = snapshot().filter((h) => !baseline().has(h.id) && h.type === 'pipe');
    expect(freshPipes.map((h) => h.owner)).toEqual([owner, null, null]);
    await destroySocket(socket);
    await destroySocket(client);
    await closeServer(server);
    await untilNoHandles(owner);
    await expectBackAtBaseline(baseline());
  });

  it('drops the pipe server from the ref count after unref()', async () => {
    const owner = newOwner('pipe-server');
    const server = withOwner(owner, () => net.createServer().listen(path.join(tempDir(), 'u.sock')));
    server.unref();
    expect(handles(owner)).toEqual(counts(1, 1, 0, 0));
    await closeServer(server);
    await untilNoHandles(owner);
    await expectBackAtBaseline(baseline());
  });

  it('counts a pipe client as closing right after destroy() and as gone in its close event', async () => {
    const owner = newOwner('pipe-client');
    const socketPath = path.join(tempDir(), 'd.sock');
    const server = net.createServer().listen(socketPath);
    await once(server, 'listening');
    const accepted = once(server, 'connection');
    const client = withOwner(owner, () => net.connect(socketPath));
    await once(client, 'connect');
    let inClose: HandleCounts | null = null;
    client.on('close', () => {
      inClose = handles(owner);
    });
    client.destroy();
    expect(handles(owner)).toEqual(counts(1, 0, 1, 1));
    await until(() => inClose !== null, 'the pipe client close event');
    expect(inClose).toEqual(NONE);
    await destroySocket((await accepted)[0] as net.Socket);
    await closeServer(server);
    await expectBackAtBaseline(baseline());
  });
});

// ---------------------------------------------------------------- tty ----

// A tty handle needs a terminal. In-process only when this process has one
// (it.skipIf); otherwise a child runs under script(1), which gives it a pty,
// and reports its counts (test/scripts/tty-child.cjs).
function canOpenDevTty(): boolean {
  try {
    fs.closeSync(fs.openSync('/dev/tty', 'r+'));
    return true;
  } catch {
    return false;
  }
}
// /dev/tty is the controlling terminal, whichever of stdin/stdout is a TTY.
const hasTty = canOpenDevTty();
const hasScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;

describe('tty', () => {
  it.skipIf(!hasTty)('counts a tty.ReadStream on this process terminal as one owned tty handle through its life', async () => {
    const owner = newOwner('tty');
    const fd = fs.openSync('/dev/tty', 'r+');
    const stream = withOwner(owner, () => new tty.ReadStream(fd));
    expect(handles(owner)).toEqual(counts(1, 0, 1, 0));
    expect(ownedShape(owner)).toEqual([{ type: 'tty', fd: 'number' }]);
    stream.resume();
    // resume() starts reading on nextTick.
    await until(() => handles(owner).active === 1, 'the tty to start reading');
    expect(handles(owner)).toEqual(counts(1, 1, 1, 0));
    stream.unref();
    expect(handles(owner)).toEqual(counts(1, 1, 0, 0));
    const closed = once(stream, 'close');
    stream.destroy();
    expect(handles(owner)).toEqual(counts(1, 0, 0, 1));
    await closed;
    expect(handles(owner)).toEqual(NONE);
    await expectBackAtBaseline(baseline());
  });

  it.skipIf(!hasScript)(
    'counts a tty.ReadStream as one owned tty handle through its life in a child that has a pty',
    async () => {
      const script = path.join(__dirname, 'scripts', 'tty-child.cjs');
      const command = `'${process.execPath}' '${script}'`;
      // stdin stays open: script(1) would send the pty an EOF when it ends.
      const child = spawn('script', ['-qec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
      child.stderr.resume();
      const [code] = (await once(child, 'exit')) as [number | null];
      child.stdin.end();
      await until(() => child.stdout.closed && child.stderr.closed, 'the script(1) pipes to close');
      const line = out.split(/\r?\n/).find((l) => l.startsWith('UVD '));
      expect(line, `child output: ${out}`).toBeDefined();
      expect(code).toBe(0);
      expect(JSON.parse(line!.slice(4))).toEqual({
        isTTY: true,
        created: counts(1, 0, 1, 0),
        shape: [{ type: 'tty', fd: 'number' }],
        reading: counts(1, 1, 1, 0),
        unref: counts(1, 1, 0, 0),
        closing: counts(1, 0, 0, 1),
        inClose: NONE,
        leftovers: [],
      });
      await until(() => stats().closing === 0, 'the child handles to close');
      await expectBackAtBaseline(baseline());
    },
  );
});

// ---------------------------------------------------------------- udp ----

describe('udp', () => {
  it('counts a new udp socket as one referenced, inactive udp handle without an fd', async () => {
    const owner = newOwner('udp');
    const socket = withOwner(owner, () => dgram.createSocket('udp4'));
    expect(handles(owner)).toEqual(counts(1, 0, 1, 0));
    expect(ownedShape(owner)).toEqual([{ type: 'udp', fd: 'null' }]);
    socket.close();
    await untilNoHandles(owner);
    await expectBackAtBaseline(baseline());
  });

  it('counts a bound udp socket as one active, referenced udp handle with a numeric fd', async () => {
    const owner = newOwner('udp');
    const socket = withOwner(owner, () => dgram.createSocket('udp4'));
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    expect(handles(owner)).toEqual(counts(1, 1, 1, 0));
    expect(ownedShape(owner)).toEqual([{ type: 'udp', fd: 'number' }]);
    socket.close();
    await untilNoHandles(owner);
    await expectBackAtBaseline(baseline());
  });

  it('drops the udp socket from the ref count after unref()', async () => {
    const owner = newOwner('udp');
    const socket = withOwner(owner, () => dgram.createSocket('udp4'));
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    socket.unref();
    expect(handles(owner)).toEqual(counts(1, 1, 0, 0));
    socket.close();
    await untilNoHandles(owner);
    await expectBackAtBaseline(baseline());
  });

  it('counts the udp socket as closing right after close() and as gone after the close callback', async () => {
    const owner = newOwner('udp');
    const socket = withOwner(owner, () => dgram.createSocket('udp4'));
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    const [id] = snapshot().filter((h) => h.owner === owner).map((h) => h.id);
    socket.close();
    expect(handles(owner)).toEqual(counts(1, 0, 1, 1));
    // dgram's 'close' comes on nextTick: wait for the handle to leave the queue.
    await until(() => !snapshot().some((h) => h.id === id), 'the udp close callback');
    expect(handles(owner)).toEqual(NONE);
    await expectBackAtBaseline(baseline());
  });
});

// ------------------------------------------------------------ process ----

// Stays alive until its stdin ends.
const CHILD_CODE = 'process.stdin.resume(); process.stdin.on("end", () => process.exit(0));';

function spawnChild(owner: string): ChildProcess {
  const child = withOwner(owner, () =>
    spawn(process.execPath, ['-e', CHILD_CODE], { stdio: ['pipe', 'pipe', 'pipe'] }),
  );
  child.stdout!.resume();
  child.stderr!.resume();
  return child;
}

async function endChild(child: ChildProcess): Promise<void> {
  const closed = once(child, 'close');
  child.stdin!.end();
  await closed;
}

describe('process', () => {
  it("counts the process handle and its three stdio pipes as the owner's", async () => {
    const owner = newOwner('process');
    const child = spawnChild(owner);
    // stdin (write only) is not active; stdout, stderr (reading) and the process are.
    expect(handles(owner)).toEqual(counts(4, 3, 4, 0));
    expect(ownedShape(owner)).toEqual([
      { type: 'pipe', fd: 'number' },
      { type: 'pipe', fd: 'number' },
      { type: 'pipe', fd: 'number' },
      { type: 'process', fd: 'null' },
    ]);
    await endChild(child);
    await untilNoHandles(owner);
    await expectBackAtBaseline(baseline());
  });

  it('drops the process handle from the ref count after unref(), not its pipes', async () => {
    const owner = newOwner('process');
    const child = spawnChild(owner);
    child.unref();
    expect(handles(owner)).toEqual(counts(4, 3, 3, 0));
    await endChild(child);
    await untilNoHandles(owner);
    await expectBackAtBaseline(baseline());
  });

  it('counts the process handle as closing when exit is emitted and counts nothing after its close callback', async () => {
    const owner = newOwner('process');
    const child = spawnChild(owner);
    let atExit: { type: string; closing: boolean; active: boolean }[] | null = null;
    child.on('exit', () => {
      // Node closes the process handle right before emitting 'exit'.
      atExit = snapshot()
        .filter((h) => h.owner === owner && h.type === 'process')
        .map((h) => ({ type: h.type, closing: h.closing, active: h.active }));
    });
    await endChild(child);
    expect(atExit).toEqual([{ type: 'process', closing: true, active: false }]);
    await untilNoHandles(owner);
    expect(handles(owner)).toEqual(NONE);
    await expectBackAtBaseline(baseline());
  });
});

// ----------------------------------------------------- fs_event, fs_poll ----

describe('fs_event (fs.watch)', () => {
  it('counts a watcher as one active, referenced fs_event handle without an fd', async () => {
    const owner = newOwner('fs-event');
    const watcher = withOwner(owner, () => fs.watch(tempDir()));
    expect(handles(owner)).toEqual(counts(1, 1, 1, 0));
    expect(ownedShape(owner)).toEqual([{ type: 'fs_event', fd: 'null' }]);
    watcher.close();
    await untilNoHandles(owner);
    await expectBackAtBaseline(baseline());
  });

  it('drops the watcher from the ref count after unref()', async () => {
    const owner = newOwner('fs-event');
    const watcher = withOwner(owner, () => fs.watch(tempDir()));
    watcher.unref();
    expect(handles(owner)).toEqual(counts(1, 1, 0, 0));
    watcher.close();
    await untilNoHandles(owner);
    await expectBackAtBaseline(baseline());
  });

  it('counts the watcher as closing right after close() and as gone after the close callback', async () => {
    const owner = newOwner('fs-event');
    const watcher = withOwner(owner, () => fs.watch(tempDir()));
    const [id] = snapshot().filter((h) => h.owner === owner).map((h) => h.id);
    watcher.close();
    expect(handles(owner)).toEqual(counts(1, 0, 1, 1));
    // FSWatcher's 'close' comes on nextTick: wait for the handle to leave the queue.
    await until(() => !snapshot().some((h) => h.id === id), 'the fs_event close callback');
    expect(handles(owner)).toEqual(NONE);
    await expectBackAtBaseline(baseline());
  });
});

describe('fs_poll (fs.watchFile)', () => {
  function watchedFile(): string {
    const file = path.join(tempDir(), 'watched.txt');
    fs.writeFileSync(file, 'x');
    return file;
  }
  const listener = (): void => {};

  it('counts a stat watcher as one active, referenced fs_poll handle without an fd (its timer is internal)', async () => {
    const owner = newOwner('fs-poll');
    const file = watchedFile();
    withOwner(owner, () => fs.watchFile(file, { interval: 60_000 }, listener));
    expect(handles(owner)).toEqual(counts(1, 1, 1, 0));
    expect(ownedShape(owner)).toEqual([{ type: 'fs_poll', fd: 'null' }]);
    fs.unwatchFile(file, listener);
    await untilNoHandles(owner);
    await expectBackAtBaseline(baseline());
  });

  it('drops the stat watcher from the ref count after unref()', async () => {
    const owner = newOwner('fs-poll');
    const file = watchedFile();
    const watcher = withOwner(owner, () => fs.watchFile(file, { interval: 60_000 }, listener));
    watcher.unref();
    expect(handles(owner)).toEqual(counts(1, 1, 0, 0));
    fs.unwatchFile(file, listener);
    await untilNoHandles(owner);
    await expectBackAtBaseline(baseline());
  });

  it('counts the stat watcher as closing right after unwatchFile() and as gone after the close callback', async () => {
    const owner = newOwner('fs-poll');
    const file = watchedFile();
    withOwner(owner, () => fs.watchFile(file, { interval: 60_000 }, listener));
    const [id] = snapshot().filter((h) => h.owner === owner).map((h) => h.id);
    fs.unwatchFile(file, listener);
    // Node unrefs a stat watcher as it stops it (the report agrees).
    expect(handles(owner)).toEqual(counts(1, 0, 0, 1));
    await until(() => !snapshot().some((h) => h.id === id), 'the fs_poll close callback');
    expect(handles(owner)).toEqual(NONE);
    await expectBackAtBaseline(baseline());
  });
});

// ------------------------------------------------------------- signal ----

describe('signal', () => {
  const SIGNAL = 'SIGUSR2';
  beforeEach(() => {
    // Node makes one handle per signal, for the first listener.
    expect(process.listenerCount(SIGNAL)).toBe(0);
  });

  it("counts the first listener's signal handle as the owner's: active, and unref'd by Node", async () => {
    const owner = newOwner('signal');
    const listener = (): void => {};
    withOwner(owner, () => process.on(SIGNAL, listener));
    expect(handles(owner)).toEqual(counts(1, 1, 0, 0));
    expect(ownedShape(owner)).toEqual([{ type: 'signal', fd: 'null' }]);
    process.removeListener(SIGNAL, listener);
    await untilNoHandles(owner);
    await expectBackAtBaseline(baseline());
  });

  it('counts no handle for an owner that listens to a signal another listener already holds', async () => {
    const owner = newOwner('signal');
    const first = (): void => {};
    const second = (): void => {};
    process.on(SIGNAL, first);
    const handlesBefore = stats().handles;
    withOwner(owner, () => process.on(SIGNAL, second));
    expect(handles(owner)).toEqual(NONE);
    expect(stats().handles).toBe(handlesBefore);
    process.removeListener(SIGNAL, second);
    process.removeListener(SIGNAL, first);
    await until(() => stats().closing === 0, 'the signal close callback');
    await expectBackAtBaseline(baseline());
  });

  it("keeps the shared signal handle on the owner that made it while another listener still uses it", async () => {
    const owner = newOwner('signal');
    const mine = (): void => {};
    const other = (): void => {};
    withOwner(owner, () => process.on(SIGNAL, mine));
    process.on(SIGNAL, other);
    process.removeListener(SIGNAL, mine);
    // The owner has let go of the signal, yet the handle it was born with lives on.
    expect(handles(owner)).toEqual(counts(1, 1, 0, 0));
    process.removeListener(SIGNAL, other);
    await untilNoHandles(owner);
    await expectBackAtBaseline(baseline());
  });

  it('counts the signal handle as closing right after the last listener is removed and as gone after the close callback', async () => {
    const owner = newOwner('signal');
    const listener = (): void => {};
    withOwner(owner, () => process.on(SIGNAL, listener));
    const [id] = snapshot().filter((h) => h.owner === owner).map((h) => h.id);
    process.removeListener(SIGNAL, listener);
    expect(handles(owner)).toEqual(counts(1, 0, 0, 1));
    await until(() => !snapshot().some((h) => h.id === id), 'the signal close callback');
    expect(handles(owner)).toEqual(NONE);
    await expectBackAtBaseline(baseline());
  });
});

// -------------------------------------------------------- MessagePort ----

describe('MessagePort (MessageChannel)', () => {
  it("counts a new channel as two active async handles without an fd, neither ref'd", async () => {
    const owner = newOwner('message-port');
    const { port1, port2 } = withOwner(owner, () => new MessageChannel());
    expect(handles(owner)).toEqual(counts(2, 2, 0, 0));
    expect(ownedShape(owner)).toEqual([
      { type: 'async', fd: 'null' },
      { type: 'async', fd: 'null' },
    ]);
    port1.close();
    port2.close();
    await untilNoHandles(owner);
    await expectBackAtBaseline(baseline());
  });

  it('refs a port when a message listener is added and drops the ref after unref()', async () => {
    const owner = newOwner('message-port');
    const { port1, port2 } = withOwner(owner, () => new MessageChannel());
    port1.on('message', () => {});
    expect(handles(owner)).toEqual(counts(2, 2, 1, 0));
    port1.unref();
    expect(handles(owner)).toEqual(counts(2, 2, 0, 0));
    port1.close();
    port2.close();
    await untilNoHandles(owner);
    await expectBackAtBaseline(baseline());
  });

  it('counts the closed port as closing right after close() while its peer is still active', async () => {
    const owner = newOwner('message-port');
    const { port1 } = withOwner(owner, () => new MessageChannel());
    port1.close();
    expect(handles(owner)).toEqual(counts(2, 1, 0, 1));
    // The peer learns of the close asynchronously and closes itself.
    await untilNoHandles(owner);
    await expectBackAtBaseline(baseline());
  });

  it('counts nothing for the owner in the port close event, which the close callback emits', async () => {
    const owner = newOwner('message-port');
    const { port1, port2 } = withOwner(owner, () => new MessageChannel());
    const ids = snapshot().filter((h) => h.owner === owner).map((h) => h.id);
    let inClose: string[] | null = null;
    port2.on('close', () => {
      inClose = snapshot()
        .filter((h) => ids.includes(h.id))
        .map((h) => h.id);
    });
    port1.close();
    await until(() => inClose !== null, 'the port close event');
    // Both ports have left the loop once the last close callback has run.
    expect(inClose).toEqual([]);
    expect(handles(owner)).toEqual(NONE);
    await expectBackAtBaseline(baseline());
  });
});

// ------------------------------------------------------------- Worker ----

const WORKER_CODE = 'setInterval(() => {}, 60_000);';

async function stopWorker(worker: Worker): Promise<void> {
  const exited = once(worker, 'exit');
  await worker.terminate();
  await exited;
}

describe('Worker', () => {
  it("counts the five async handles a new Worker adds to this loop as the owner's, two of them closing", async () => {
    const owner = newOwner('worker');
    const worker = withOwner(owner, () => new Worker(WORKER_CODE, { eval: true }));
    // Message ports: two were transferred to the worker and closed here at once.
    expect(handles(owner)).toEqual(counts(5, 3, 0, 2));
    const added = snapshot().filter((h) => !baseline().has(h.id) && (h.type !== 'timer' || h.ref));
    expect(added.map((h) => [h.type, h.owner, h.fd])).toEqual(Array(5).fill(['async', owner, null]));
    await once(worker, 'online');
    await stopWorker(worker);
    await untilNoHandles(owner);
    await expectBackAtBaseline(baseline());
  });

  it('keeps three owned async handles while online, none referenced', async () => {
    const owner = newOwner('worker');
    const worker = withOwner(owner, () => new Worker(WORKER_CODE, { eval: true }));
    await once(worker, 'online');
    expect(handles(owner)).toEqual(counts(3, 3, 0, 0));
    await stopWorker(worker);
    await untilNoHandles(owner);
    await expectBackAtBaseline(baseline());
  });

  it("holds the loop through a Node-shared handle: unref() drops the loop ref count, not the owner's", async () => {
    const owner = newOwner('worker');
    const worker = withOwner(owner, () => new Worker(WORKER_CODE, { eval: true }));
    await once(worker, 'online');
    const loopRef = stats().ref;
    worker.unref();
    expect(stats().ref).toBe(loopRef - 1);
    expect(handles(owner)).toEqual(counts(3, 3, 0, 0));
    await stopWorker(worker);
    await untilNoHandles(owner);
    await expectBackAtBaseline(baseline());
  });

  it('counts nothing for the owner once the worker has exited and its close callbacks ran', async () => {
    const owner = newOwner('worker');
    const worker = withOwner(owner, () => new Worker(WORKER_CODE, { eval: true }));
    await once(worker, 'online');
    expect(handles(owner).total).toBeGreaterThan(0);
    // Node closes the parent side of the worker's ports around its 'exit'
    // event, in no fixed order: wait for the close callbacks, not the event.
    await worker.terminate();
    await untilNoHandles(owner);
    expect(handles(owner)).toEqual(NONE);
    await expectBackAtBaseline(baseline());
  });
});

// -------------------------------------------------------------- timer ----

describe('timer', () => {
  it('counts a JS timer made inside withOwner in timers, with no handle of its own', async () => {
    const owner = newOwner('timer');
    const timeout = withOwner(owner, () => setTimeout(() => {}, 60_000));
    expect(countsFor(owner)).toMatchObject({ ...NONE, timers: 1 });
    // All JS timers share Node's one uv timer, which nobody owns and has no
    // fd (Node's platform may add transient timers of its own meanwhile).
    expect(snapshot().filter((h) => h.owner === owner)).toEqual([]);
    const timers = snapshot().filter((h) => h.type === 'timer');
    expect(timers.length).toBeGreaterThan(0);
    expect(timers.every((h) => h.owner === null && h.fd === null)).toBe(true);
    clearTimeout(timeout);
    expect(countsFor(owner)).toMatchObject({ ...NONE, timers: 0 });
    await expectBackAtBaseline(baseline());
  });
});
