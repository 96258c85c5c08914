// leakCheck({ context: true }): a check looks at what its run() calls made
// (in their async continuations and in callbacks of what they made), not at
// the clock. Real servers, sockets and agents on loopback; checks that run at
// the same time each see their own.
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, getGlobalDispatcher, setGlobalDispatcher } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { leakCheck, type LeakedHandle, type LeakReport } from '../dist/index.js';
import { closeServer } from './helpers.js';

const THIS_FILE = fileURLToPath(import.meta.url);
const SOURCE = fs.readFileSync(THIS_FILE, 'utf8').split('\n');

/** `leak-scopes.test.ts:<line>:` of the line that holds `marker`. */
function siteOf(marker: string): string {
  const index = SOURCE.findIndex((line) => line.includes(marker) && !line.includes('siteOf('));
  expect(index, marker).toBeGreaterThanOrEqual(0);
  return `${path.basename(THIS_FILE)}:${index + 1}:`;
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function handles(report: LeakReport): LeakedHandle[] {
  return report.leaks.filter((l): l is LeakedHandle => l.kind === 'handle');
}

async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => closeServer(server));
  return (server.address() as net.AddressInfo).port;
}

/** A loopback HTTP server that answers 'ok', closed with its connections after the test. */
async function okServer(): Promise<number> {
  const server = http.createServer((req, res) => res.end('ok'));
  const port = await listen(server);
  cleanups.push(() => server.closeAllConnections());
  return port;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('leakCheck({ context: true })', () => {
  it('needs tracking, and run() needs a function', () => {
    expect(() => leakCheck({ context: true, tracking: false })).toThrow(RangeError);
    expect(() => leakCheck({ context: true, tracking: false })).toThrow(/"context" option needs tracking/);
    expect(() => leakCheck({ context: 'yes' as unknown as boolean })).toThrow(TypeError);
    expect(() => leakCheck({ context: true }).run(42 as unknown as () => void)).toThrow(TypeError);
    expect(leakCheck({ context: true }).run(() => 7)).toBe(7);
  });

  it('two checks at once: each reports only the server its own run() made', async () => {
    const slow = leakCheck({ context: true, graceMs: 50 });
    const quick = leakCheck({ context: true, graceMs: 50 });
    slow.begin();
    quick.begin();
    let leaked: net.Server | undefined;
    const slowRun = slow.run(async () => {
      await pause(5);
      leaked = net.createServer().listen(0, '127.0.0.1'); // leak:slow
      cleanups.push(() => closeServer(leaked));
      await pause(30);
    });
    await quick.run(async () => {
      const server = net.createServer();
      await listen(server);
      await pause(20);
      await closeServer(server);
      cleanups.pop();
    });
    // The slow check's server is alive while the quick one ends: not the quick one's.
    expect(leaked?.listening).toBe(true);
    const quickReport = await quick.end();
    expect(quickReport.leaks).toEqual([]);
    await slowRun;
    const slowReport = await slow.end();
    expect(handles(slowReport).map((h) => [h.type, h.resource?.replace(/\d+$/, 'PORT')])).toEqual([
      ['tcp', 'TCP server 127.0.0.1:PORT'],
    ]);
    // Born in the lookup's tick after listen(): the stack is the listen() call's.
    expect(handles(slowReport)[0].stack).toContain('(born when Node continued the call made at:)');
    expect(handles(slowReport)[0].stack).toContain(siteOf('// leak:slow'));
  });

  it('a connection a server accepts is the server’s, not the client’s check’s', async () => {
    const serverScope = leakCheck({ context: true, graceMs: 50 });
    const clientScope = leakCheck({ context: true, graceMs: 50 });
    serverScope.begin();
    const accepted: net.Socket[] = [];
    const server = serverScope.run(() => net.createServer((socket) => accepted.push(socket)));
    const port = await serverScope.run(() => listen(server));
    clientScope.begin();
    const client = await clientScope.run(async () => {
      const socket = net.connect(port, '127.0.0.1');
      await once(socket, 'connect');
      return socket;
    });
    await until(() => accepted.length === 1);
    cleanups.push(() => client.destroy());
    // Both ends are open: the client's end is the client check's, the accepted one the server's.
    const local = `${client.localAddress}:${client.localPort}`;
    expect(handles(await clientScope.end()).map((h) => h.resource)).toEqual([`TCP socket ${local} → 127.0.0.1:${port}`]);
    const serverSide = handles(await serverScope.end()).map((h) => h.resource);
    expect(serverSide).toEqual([`TCP server 127.0.0.1:${port}`, `TCP socket 127.0.0.1:${port} → ${local}`]);
    for (const socket of accepted) socket.destroy();
  });

  it('an agent’s pooled socket is its agent’s: the block that made the agent, not the test that asked', async () => {
    const port = await okServer();
    const block = leakCheck({ context: true, graceMs: 50 });
    const test = leakCheck({ context: true, graceMs: 50 });
    block.begin();
    const agent = block.run(() => new http.Agent({ keepAlive: true }));
    test.begin();
    await test.run(
      () =>
        new Promise<void>((resolve, reject) => {
          http.get({ host: '127.0.0.1', port, agent }, (res) => res.resume().on('end', resolve)).on('error', reject);
        }),
    );
    await until(() => Object.keys(agent.freeSockets).length === 1);
    expect((await test.end()).leaks).toEqual([]);
    const pooled = handles(await block.end());
    expect(pooled.map((h) => h.resource?.replace(/:\d+/g, ':PORT'))).toEqual(['TCP socket 127.0.0.1:PORT → 127.0.0.1:PORT']);
    agent.destroy();
  });

  it('an agent the test itself made is the test’s', async () => {
    const port = await okServer();
    const test = leakCheck({ context: true, graceMs: 50 });
    test.begin();
    const agent = await test.run(async () => {
      const own = new http.Agent({ keepAlive: true });
      await new Promise<void>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, agent: own }, (res) => res.resume().on('end', resolve)).on('error', reject);
      });
      return own;
    });
    await until(() => Object.keys(agent.freeSockets).length === 1);
    expect(handles(await test.end()).map((h) => h.type)).toEqual(['tcp']);
    agent.destroy();
  });

  it('an undici dispatcher’s sockets are where the dispatcher was made', async () => {
    const port = await okServer();
    const block = leakCheck({ context: true, graceMs: 50 });
    const test = leakCheck({ context: true, graceMs: 50 });
    block.begin();
    const agent = block.run(() => new Agent({ keepAliveTimeout: 10_000 }));
    cleanups.push(() => agent.close());
    test.begin();
    await test.run(async () => {
      const res = await fetch(`http://127.0.0.1:${port}/`, { dispatcher: agent } as RequestInit);
      expect(await res.text()).toBe('ok');
    });
    expect((await test.end()).leaks).toEqual([]);
    const kept = handles(await block.end());
    expect(kept.map((h) => h.resource?.replace(/:\d+/g, ':PORT'))).toEqual(['TCP socket 127.0.0.1:PORT → 127.0.0.1:PORT']);
  });

  it('the process’s global dispatcher is nobody’s, whoever made it', async () => {
    const port = await okServer();
    const previous = getGlobalDispatcher();
    const leftBy = async (global: boolean) => {
      const test = leakCheck({ context: true, graceMs: 50 });
      test.begin();
      const dispatcher = await test.run(async () => {
        const own = new Agent({ keepAliveTimeout: 10_000 });
        if (global) setGlobalDispatcher(own); // what importing undici (or a suite's setup) does
        const res = await fetch(`http://127.0.0.1:${port}/`, global ? {} : ({ dispatcher: own } as RequestInit));
        expect(await res.text()).toBe('ok');
        return own;
      });
      const report = await test.end();
      setGlobalDispatcher(previous);
      await dispatcher.close();
      return handles(report).map((h) => h.type);
    };
    // The same Agent, used directly: the test's; installed as the global dispatcher: the process's.
    expect(await leftBy(false)).toEqual(['tcp']);
    expect(await leftBy(true)).toEqual([]);
  });

  it('timers follow the context: one made in a callback of another check’s server is that check’s', async () => {
    const block = leakCheck({ context: true, graceMs: 50 });
    const test = leakCheck({ context: true, graceMs: 50 });
    block.begin();
    const timers: NodeJS.Timeout[] = [];
    const server = block.run(() =>
      http.createServer((req, res) => {
        timers.push(setTimeout(() => {}, 10_000)); // leak:handler-timer
        res.end('ok');
      }),
    );
    const port = await block.run(() => listen(server));
    cleanups.push(() => server.closeAllConnections());
    test.begin();
    await test.run(async () => {
      const res = await fetch(`http://127.0.0.1:${port}/`);
      expect(await res.text()).toBe('ok');
    });
    expect((await test.end()).leaks).toEqual([]);
    const report = await block.end();
    const timer = report.leaks.find((l) => l.kind === 'timer');
    expect(timer?.stack).toContain(siteOf('// leak:handler-timer'));
    for (const t of timers) clearTimeout(t);
  });

  it('a window check (context off) still sees everything born since begin()', async () => {
    const other = leakCheck({ context: true });
    const window = leakCheck({ tracking: true, graceMs: 50 });
    window.begin();
    const server = other.run(() => net.createServer());
    await listen(server);
    expect(handles(await window.end()).map((h) => h.type)).toEqual(['tcp']);
  });
});

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await pause(1);
  expect(cond()).toBe(true);
}
