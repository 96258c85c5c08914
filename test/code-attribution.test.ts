// Attribution by code: plugins in their own directories (test/plugins/),
// loaded by path, register listeners, handlers, jobs, hooks and middleware
// with a host API that lives outside them (test/plugins/host/api.cjs). The
// host calls that code in its own async context; what the code makes must
// still be the plugin's: counted, holding the unload (UnloadTimeoutError
// naming it, with the line that made it) until the plugin lets go, then
// removed. Node's shared machinery that plugin code merely uses (the global
// agent's and fetch's pooled sockets, the http Date-header cache timer) is
// nobody's.
import { once } from 'node:events';
import * as http from 'node:http';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  UnloadCoordinator,
  UnloadTimeoutError,
  countsFor,
  snapshot,
  type OwnerCounts,
  type UnloadReport,
} from '../dist/index.js';
import { baselinePerTest, until } from './helpers.js';

const require = createRequire(import.meta.url);
const PLUGINS = fileURLToPath(new URL('./plugins/', import.meta.url));
const { host } = require('./plugins/host/api.cjs') as { host: Host };

interface Host {
  events: import('node:events').EventEmitter;
  plugins: Map<string, unknown>;
  start(): Promise<number>;
  stop(): Promise<void>;
  runJobsOnce(): Promise<void>;
  runHook(name: string, ...args: unknown[]): Promise<void>;
  release(plugin: string): Promise<void>;
  reset(): void;
  server: http.Server | undefined;
}

let port: number;
let coordinator: UnloadCoordinator;

beforeAll(async () => {
  port = await host.start();
});
afterAll(async () => {
  await host.stop();
});
baselinePerTest({
  setup() {
    coordinator = new UnloadCoordinator({ stacks: true, timeoutMs: 5_000 });
  },
  async tidy() {
    await coordinator.quit();
    host.reset();
  },
});

/** A plain GET to the host with a fresh connection that closes after the answer. */
function get(pathname: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: pathname, agent: false, headers: { connection: 'close' } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

function load(name: string): Promise<void> {
  return coordinator.load(name, path.join(PLUGINS, name, 'index.cjs'));
}

/** Unload with a short deadline: must time out, naming what the plugin's code made. */
async function expectHeld(name: string, types: string[]): Promise<UnloadReport> {
  const err = await coordinator.unload(name, { timeoutMs: 150 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `${name} was removed while its resources lived`).toBeInstanceOf(UnloadTimeoutError);
  const report = (err as UnloadTimeoutError).report as UnloadReport;
  expect(report.removed).toBe(false);
  expect(report.left.handles.map((h) => h.type).sort()).toEqual([...types].sort());
  for (const h of report.left.handles) expect(h.stack ?? '').toContain(path.join(PLUGINS, name));
  return report;
}

async function releaseAndUnload(name: string): Promise<void> {
  await host.release(name);
  const report = await coordinator.unload(name);
  expect(report.removed).toBe(true);
  expect(countsFor(name)).toMatchObject({ total: 0, requests: 0, timers: 0 });
}

function expectCounts(name: string, counts: Partial<OwnerCounts>): void {
  const handles = snapshot().filter((h) => h.owner === name);
  expect(countsFor(name), JSON.stringify(handles)).toMatchObject(counts);
}

describe('what a plugin makes in code the host calls is the plugin\'s', () => {
  it('an EventEmitter listener: its TCP server and interval', async () => {
    await load('listener');
    host.events.emit('start');
    await until(() => countsFor('listener').total === 1, 'the server');
    expectCounts('listener', { total: 1, active: 1, timers: 1 });
    await expectHeld('listener', ['tcp']);
    await releaseAndUnload('listener');
  });

  it("a 'request' handler on the host's server: its UDP socket and poller (not the host's connection, not Node's Date-header timer)", async () => {
    await load('handler');
    expect(await get('/subscribe')).toBe('subscribed');
    expectCounts('handler', { total: 1, timers: 1, requests: 0 });
    await expectHeld('handler', ['udp']);
    await releaseAndUnload('handler');
  });

  it("a job callback run by the host's interval: its fs.watch and retry timer", async () => {
    await load('job');
    await host.runJobsOnce();
    expectCounts('job', { total: 1, timers: 1 });
    await expectHeld('job', ['fs_event']);
    await releaseAndUnload('job');
  });

  it('an async hook awaited by the host: the child process (and its pipes) spawned after an await', async () => {
    await load('hook');
    await host.runHook('onReady');
    expectCounts('hook', { total: 3 });
    await expectHeld('hook', ['process', 'pipe', 'pipe']);
    await releaseAndUnload('hook');
  });

  it('a middleware in the host chain: its session timer', async () => {
    await load('middleware');
    expect(await get('/')).toBe('host');
    expectCounts('middleware', { total: 0, timers: 1 });
    const report = await expectHeld('middleware', []);
    expect(report.left.counts.timers).toBe(1);
    await releaseAndUnload('middleware');
  });

  it("a 'data' listener the plugin put on a host socket: its upstream connection", async () => {
    const upstream = net.createServer((s) => s.resume());
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const front = net.createServer();
    front.listen(0, '127.0.0.1');
    await once(front, 'listening');
    const accepted = once(front, 'connection') as Promise<[net.Socket]>;
    const client = net.connect((front.address() as net.AddressInfo).port, '127.0.0.1');
    const [hostSide] = await accepted;
    try {
      await load('data-listener');
      host.events.emit('socket', hostSide, (upstream.address() as net.AddressInfo).port);
      client.write('line\n');
      await until(() => countsFor('data-listener').total === 1, 'the upstream connection');
      await expectHeld('data-listener', ['tcp']);
      await releaseAndUnload('data-listener');
    } finally {
      client.destroy();
      hostSide.destroy();
      await Promise.all([new Promise((r) => upstream.close(r)), new Promise((r) => front.close(r))]);
    }
  });

  it("two plugins calling each other: each owns what its own code made", async () => {
    await load('callee');
    await load('caller');
    host.events.emit('start');
    expectCounts('callee', { total: 1, timers: 0 });
    expectCounts('caller', { total: 0, timers: 1 });
    await expectHeld('callee', ['tcp']);
    await releaseAndUnload('caller');
    await releaseAndUnload('callee');
  });
});

describe('where a module\'s code lies', () => {
  it('a plugin shaped as a package: its package root, a vendored dependency outside its entry folder included', async () => {
    const sink = net.createServer((s) => s.resume());
    sink.listen(0, '127.0.0.1');
    await once(sink, 'listening');
    try {
      await coordinator.load('packaged', path.join(PLUGINS, 'packaged', 'lib', 'index.cjs'));
      host.events.emit('start', (sink.address() as net.AddressInfo).port);
      expectCounts('packaged', { total: 2 });
      const report = await expectHeld('packaged', ['tcp', 'tcp']);
      expect(report.left.handles[0].stack).toContain(path.join('packaged', 'vendor', 'pool.cjs'));
      await releaseAndUnload('packaged');
    } finally {
      sink.close();
      await once(sink, 'close');
    }
  });

  it('one factory loaded under two names: the code cannot tell them apart, the async context of each one\'s hooks does', async () => {
    const { makePlugin } = require('./plugins/factory/index.cjs') as { makePlugin: () => object };
    const root = path.join(PLUGINS, 'factory');
    await coordinator.load('factory-a', makePlugin(), { root });
    await coordinator.load('factory-b', makePlugin(), { root });
    expectCounts('factory-a', { total: 1 });
    expectCounts('factory-b', { total: 1 });
    expect((await coordinator.unload('factory-a')).removed).toBe(true);
    expectCounts('factory-b', { total: 1 });
    expect((await coordinator.unload('factory-b')).removed).toBe(true);
  });

  it('bad root and files options: TypeError naming the option', async () => {
    await expect(coordinator.load('bad', {}, { root: 3 as never })).rejects.toThrow(/"root" option must be a non-empty path/);
    await expect(coordinator.load('bad', {}, { files: 'x' as never })).rejects.toThrow(/"files" option must be an array/);
    await expect(coordinator.load('bad', {}, { root: [''] })).rejects.toThrow(TypeError);
    await expect(coordinator.load('bad', { native: '/x.so' }, { root: '/x' })).rejects.toThrow(/for JS modules/);
    expect(coordinator.names).toEqual([]);
  });
});

describe("Node's shared machinery that plugin code only uses is nobody's", () => {
  it("the global agent's pooled keep-alive socket", async () => {
    await load('agent-client');
    await host.runHook('onReady', port);
    const pooled = Object.values(http.globalAgent.freeSockets).flat();
    expect(pooled.length).toBe(1);
    expectCounts('agent-client', { total: 0, requests: 0, timers: 0 });
    expect((await coordinator.unload('agent-client')).removed).toBe(true);
    http.globalAgent.destroy();
    host.server!.closeIdleConnections();
  });

  it("fetch's pooled socket and timers", async () => {
    const before = snapshot().filter((h) => h.type === 'tcp').length;
    await load('fetch-client');
    await host.runHook('onReady', port);
    // The client's pooled socket and the host's side of it.
    expect(snapshot().filter((h) => h.type === 'tcp').length).toBe(before + 2);
    expectCounts('fetch-client', { total: 0, requests: 0, timers: 0 });
    expect((await coordinator.unload('fetch-client')).removed).toBe(true);
    host.server!.closeIdleConnections();
    await until(() => snapshot().filter((h) => h.type === 'tcp').length === before, 'the pooled socket to close');
  });
});
