// Paced wrap-up (ctx.yield, ctx.budgetLeft, ctx.paced and the budgetMs
// option): a module being unloaded spends at most its share of a budget of
// loop time per iteration, its waiting work is its own, and the coordinator's
// drain, verify and deadline rules are those of any unload. Slices are told
// apart by libuv's loop_count (binding.paceIteration(): it moves right
// before each poll phase), never by wall-clock thresholds: the budget is
// checked as "an item starts only while the share is not spent".
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_BUDGET_MS, UnloadCoordinator, UnloadTimeoutError, countsFor, type JsModule, type ModuleContext } from '../dist/index.js';
import { binding } from '../dist/native.js';
import { baselinePerTest, coordinator, quitCoordinators, rejection, thrown, uniqueName, until } from './helpers.js';

baselinePerTest({ tidy: () => quitCoordinators() });

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

/** Busy for `ms` of the monotonic clock: an item whose cost is known. */
function busy(ms: number): void {
  const until = nowMs() + ms;
  while (nowMs() < until);
}

interface Item {
  iteration: number;
  ms: number;
  leftAfter: number;
}

/** Items grouped by the iteration they ran in, in order. */
function slices(items: Item[]): Item[][] {
  const out: Item[][] = [];
  for (const item of items) {
    if (out.length > 0 && out[out.length - 1]![0]!.iteration === item.iteration) out[out.length - 1]!.push(item);
    else out.push([item]);
  }
  return out;
}

/** A module whose cleanup runs `count` items of `itemMs` each through ctx.paced(), recording each. */
function pacedModule(count: number, itemMs: number, log: Item[], opts: { awaitRun?: boolean } = {}): JsModule {
  // Started once: a second unload (after a deadline) finds it under way.
  let run: Promise<void> | undefined;
  return {
    async cleanup(ctx: ModuleContext) {
      run ??= ctx.paced(
        Array.from({ length: count }, (_, i) => i),
        () => {
          const iteration = binding.paceIteration();
          const t0 = nowMs();
          busy(itemMs);
          log.push({ iteration, ms: nowMs() - t0, leftAfter: ctx.budgetLeft() });
        },
      );
      if (opts.awaitRun !== false) await run;
    },
  };
}

/** The budget is honoured: within a slice, the items before the last took less than the share in all. */
function expectHonoured(log: Item[], shareMs: number): void {
  const all = slices(log);
  for (const slice of all) {
    const beforeLast = slice.slice(0, -1).reduce((s, i) => s + i.ms, 0);
    expect(beforeLast).toBeLessThan(shareMs);
  }
  // A slice ends only once the share is spent (the last slice: once the items are): read right after
  // its last item, a moment before the yield that decided, less than what one more item costs was left.
  for (const slice of all.slice(0, -1)) expect(slice[slice.length - 1]!.leftAfter).toBeLessThan(Math.min(...slice.map((i) => i.ms)));
  // Slices come in strictly later iterations: a poll phase lies between any two.
  for (let i = 1; i < all.length; i++) expect(all[i]![0]!.iteration).toBeGreaterThan(all[i - 1]![0]!.iteration);
}

describe('a paced cleanup', () => {
  it('runs its items in slices of at most its budget per loop iteration', async () => {
    const log: Item[] = [];
    const c = coordinator({ budgetMs: 2.5 });
    const name = uniqueName('paced-slices-');
    await c.load(name, pacedModule(30, 1, log));
    const report = await c.unload(name);
    expect(log).toHaveLength(30);
    expectHonoured(log, 2.5);
    // Items of 1 ms each and a 2.5 ms budget: at most 3 per iteration.
    const all = slices(log);
    expect(Math.max(...all.map((s) => s.length))).toBeLessThanOrEqual(3);
    expect(all.length).toBeGreaterThanOrEqual(10);
    expect(report.removed).toBe(true);
    expect(report.pacing).toEqual({ budgetMs: 2.5, waiting: 0, itemsLeft: 0 });
    await c.quit();
  });

  it('takes the budget of unload() over the coordinator\'s, and Infinity runs every item at once as before', async () => {
    const log: Item[] = [];
    const c = coordinator({ budgetMs: 0.1 });
    const name = uniqueName('paced-infinity-');
    await c.load(name, pacedModule(20, 0.2, log));
    const report = await c.unload(name, { budgetMs: Infinity });
    expect(slices(log)).toHaveLength(1);
    expect(log.every((i) => i.leftAfter === Infinity)).toBe(true);
    expect(report.pacing.budgetMs).toBe(Infinity);
    await c.quit();
  });

  it('uses the default budget when none is given', async () => {
    expect(DEFAULT_BUDGET_MS).toBeGreaterThan(0);
    const log: Item[] = [];
    const c = coordinator();
    const name = uniqueName('paced-default-');
    await c.load(name, pacedModule(12, DEFAULT_BUDGET_MS / 2, log));
    const report = await c.unload(name);
    expectHonoured(log, DEFAULT_BUDGET_MS);
    expect(slices(log).length).toBeGreaterThanOrEqual(4);
    expect(report.pacing.budgetMs).toBe(DEFAULT_BUDGET_MS);
    await c.quit();
  });

  it('shares one budget between modules unloaded at once, and every one of them moves in every iteration', async () => {
    const logs: Item[][] = [[], []];
    const c = coordinator({ budgetMs: 3 });
    const names = [uniqueName('paced-share-a-'), uniqueName('paced-share-b-')];
    for (let i = 0; i < 2; i++) await c.load(names[i]!, pacedModule(16, 1, logs[i]!));
    const report = await c.quit({ order: 'parallel' });
    expect(report.modules.map((m) => m.removed)).toEqual([true, true]);
    // Two modules: 1.5 ms each per iteration.
    for (const log of logs) {
      expect(log).toHaveLength(16);
      expectHonoured(log, 1.5);
    }
    // Neither waits on the other: while both had items left, both ran in the same iterations.
    const [a, b] = logs.map((log) => slices(log).map((s) => s[0]!.iteration));
    const bothBusy = Math.min(a!.length, b!.length) - 1;
    expect(a!.slice(0, bothBusy)).toEqual(b!.slice(0, bothBusy));
  });

  it('counts its waiting work for the module: it is not removed before its last item, even when cleanup does not await it', async () => {
    const log: Item[] = [];
    const c = coordinator({ budgetMs: 1 });
    const name = uniqueName('paced-counted-');
    await c.load(name, pacedModule(10, 0.6, log, { awaitRun: false }));
    let timersSeen = 0;
    const watch = setInterval(() => {
      timersSeen = Math.max(timersSeen, countsFor(name).timers);
    }, 0);
    const report = await c.unload(name);
    clearInterval(watch);
    expect(log).toHaveLength(10);
    expect(slices(log).length).toBeGreaterThanOrEqual(5);
    // The immediate that resumes it is the module's, while it waits.
    expect(timersSeen).toBe(1);
    expect(report.removed).toBe(true);
    expect(countsFor(name)).toMatchObject({ total: 0, timers: 0, requests: 0 });
    await c.quit();
  });

  it('keeps the module loaded when the deadline fires mid-way, says what was pending, and goes on to finish', async () => {
    const log: Item[] = [];
    const c = coordinator({ budgetMs: 0.5 });
    const name = uniqueName('paced-deadline-');
    await c.load(name, pacedModule(400, 0.4, log));
    const error = await rejection(c.unload(name, { timeoutMs: 30 }));
    expect(error).toBeInstanceOf(UnloadTimeoutError);
    const report = error.report;
    expect(report.removed).toBe(false);
    expect(report.pacing.budgetMs).toBe(0.5);
    expect(report.pacing.waiting).toBe(1);
    expect(report.pacing.itemsLeft).toBeGreaterThan(0);
    expect(report.pacing.itemsLeft).toBe(400 - log.length);
    expect(c.has(name)).toBe(true);
    // Its paced work goes on, still paced, and a second unload removes it once done.
    const second = await c.unload(name, { timeoutMs: 60_000 });
    expect(second.removed).toBe(true);
    expect(log).toHaveLength(400);
    expectHonoured(log, 0.5);
    await c.quit();
  });

  it('resumes a yield made in a poll-phase callback after the next poll, not in the same iteration\'s check phase', async () => {
    const file = path.join(os.tmpdir(), `${uniqueName('paced-poll-')}.txt`);
    fs.writeFileSync(file, 'x');
    const seen: { before: number; after: number }[] = [];
    const c = coordinator({ budgetMs: 0.2 });
    const name = uniqueName('paced-poll-');
    await c.load(name, {
      cleanup: (ctx) =>
        new Promise<void>((resolve, reject) => {
          fs.stat(file, (err) => {
            if (err) return reject(err);
            // The module's clock of this iteration starts at its first question in it.
            ctx.budgetLeft();
            busy(0.3);
            const before = binding.paceIteration();
            ctx.yield().then(() => {
              seen.push({ before, after: binding.paceIteration() });
              resolve();
            }, reject);
          });
        }),
    });
    await c.unload(name);
    fs.rmSync(file);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.after).toBeGreaterThan(seen[0]!.before);
    await c.quit();
  });

  it('closes the keep-alive sockets of an HTTP server in slices, and the loop keeps serving another server meanwhile', async () => {
    const c = coordinator({ budgetMs: 0.05 });
    const name = uniqueName('paced-http-');
    const sockets = new Set<net.Socket>();
    let server!: http.Server;
    await c.load(name, {
      async init() {
        server = http.createServer({ keepAlive: true }, (_req, res) => res.end('ok'));
        server.on('connection', (s) => {
          sockets.add(s);
          s.once('close', () => sockets.delete(s));
        });
        server.listen(0, '127.0.0.1');
        await once(server, 'listening');
      },
      async cleanup(ctx) {
        server.close();
        await ctx.paced([...sockets], (s) => {
          closedIn.push(binding.paceIteration());
          s.destroy();
        });
      },
    });
    const closedIn: number[] = [];
    const { port } = server.address() as net.AddressInfo;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    await Promise.all(
      Array.from({ length: 64 }, () =>
        new Promise<void>((resolve, reject) => {
          http.get({ port, host: '127.0.0.1', agent }, (res) => res.resume().on('end', resolve)).on('error', reject);
        }),
      ),
    );
    await until(() => sockets.size === 64, 'the 64 keep-alive connections');
    // Another server, of nobody, answered while the module unloads.
    // Either end may see ECONNRESET when the test hangs up with an echo in flight.
    const other = net.createServer((s) => s.on('error', () => {}).pipe(s)).listen(0, '127.0.0.1');
    await once(other, 'listening');
    const pinger = net.connect((other.address() as net.AddressInfo).port, '127.0.0.1').on('error', () => {});
    await once(pinger, 'connect');
    let echoes = 0;
    let pinging = true;
    pinger.on('data', () => {
      echoes++;
      if (pinging) pinger.write('p');
    });
    pinger.write('p');
    const report = await c.unload(name);
    pinging = false;
    expect(report.removed).toBe(true);
    expect(closedIn).toHaveLength(64);
    const iterations = new Set(closedIn).size;
    expect(iterations).toBeGreaterThan(1);
    expect(echoes).toBeGreaterThan(0);
    agent.destroy();
    pinger.destroy();
    other.close();
    await once(other, 'close');
    await c.quit();
  });

  it('paces a cleanup written as a promise chain with `await ctx.yield()` in a for..of loop', async () => {
    const c = coordinator({ budgetMs: 0.05 });
    const name = uniqueName('paced-chain-');
    const accepted = new Set<net.Socket>();
    const destroyedIn: number[] = [];
    let server!: net.Server;
    const clients: net.Socket[] = [];
    await c.load(name, {
      async init() {
        server = net.createServer((s) => {
          accepted.add(s);
          s.on('error', () => {});
          s.once('close', () => accepted.delete(s));
        });
        server.listen(0, '127.0.0.1');
        await once(server, 'listening');
        const { port } = server.address() as net.AddressInfo;
        for (let i = 0; i < 40; i++) {
          const socket = net.connect(port, '127.0.0.1').on('error', () => {});
          clients.push(socket);
          await once(socket, 'connect');
        }
      },
      cleanup(ctx) {
        // The shape of many plugins: stop accepting, hang up one by one yielding between, then wait for
        // the server's close (which comes once its last connection is gone).
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        return Promise.resolve()
          .then(async () => {
            for (const socket of [...clients, ...accepted]) {
              socket.destroy();
              destroyedIn.push(binding.paceIteration());
              busy(0.03);
              await ctx.yield();
            }
          })
          .then(() => closed);
      },
    });
    await until(() => accepted.size === 40, 'the 40 connections accepted');
    const report = await c.unload(name);
    expect(report.removed).toBe(true);
    expect(destroyedIn).toHaveLength(80);
    // 30 µs of work per socket and a 50 µs share: at most 2 per iteration.
    const perIteration = new Map<number, number>();
    for (const i of destroyedIn) perIteration.set(i, (perIteration.get(i) ?? 0) + 1);
    expect(Math.max(...perIteration.values())).toBeLessThanOrEqual(2);
    expect(perIteration.size).toBeGreaterThanOrEqual(40);
    expect(accepted.size).toBe(0);
    expect(countsFor(name)).toMatchObject({ total: 0, timers: 0, requests: 0 });
    await c.quit();
  });

  it('changes nothing for a module that never yields', async () => {
    const c = coordinator({ budgetMs: 0.01 });
    const name = uniqueName('paced-never-');
    let server!: net.Server;
    await c.load(name, {
      async init() {
        server = net.createServer().listen(0, '127.0.0.1');
        await once(server, 'listening');
      },
      cleanup() {
        server.close();
      },
    });
    const report = await c.unload(name);
    expect(report.removed).toBe(true);
    expect(report.pacing).toEqual({ budgetMs: 0.01, waiting: 0, itemsLeft: 0 });
    await c.quit();
  });
});

describe('in a worker thread', () => {
  it("paces on the worker's own loop, and the worker ends by itself once the module is removed", async () => {
    const dist = new URL('../dist/', import.meta.url).href;
    const code = `
      const { parentPort } = require('node:worker_threads');
      const { UnloadCoordinator } = require(${JSON.stringify(new URL('index.js', dist).pathname)});
      const { binding } = require(${JSON.stringify(new URL('native.js', dist).pathname)});
      const busy = (ms) => { const end = performance.now() + ms; while (performance.now() < end); };
      const iterations = [];
      const c = new UnloadCoordinator({ budgetMs: 1 });
      (async () => {
        await c.load('worker-paced', {
          cleanup: (ctx) => ctx.paced(Array.from({ length: 20 }), () => { iterations.push(binding.paceIteration()); busy(0.4); }),
        });
        const report = await c.unload('worker-paced');
        await c.quit();
        parentPort.postMessage({ iterations, removed: report.removed });
      })();
    `;
    const worker = new Worker(code, { eval: true });
    // Listened for from the start: Node may emit 'exit' in the same callback as the last 'message'.
    const exited = once(worker, 'exit');
    const [result] = (await once(worker, 'message')) as [{ iterations: number[]; removed: boolean }];
    const [exitCode] = await exited;
    expect(exitCode).toBe(0);
    expect(result.removed).toBe(true);
    expect(result.iterations).toHaveLength(20);
    const perIteration = new Map<number, number>();
    for (const i of result.iterations) perIteration.set(i, (perIteration.get(i) ?? 0) + 1);
    // 0.4 ms items, 1 ms budget: at most 3 per iteration of the worker's loop.
    expect(Math.max(...perIteration.values())).toBeLessThanOrEqual(3);
    expect(perIteration.size).toBeGreaterThanOrEqual(7);
  });
});

describe('ctx pacing outside an unload', () => {
  it('yields at once and has all the time there is', async () => {
    const c = coordinator({ budgetMs: 0.01 });
    const name = uniqueName('paced-outside-');
    const seen: { left: number; before: number; after: number }[] = [];
    await c.load(name, {
      async init(ctx) {
        const before = binding.paceIteration();
        busy(0.1);
        await ctx.yield();
        await ctx.paced([1, 2, 3], () => busy(0.05));
        seen.push({ left: ctx.budgetLeft(), before, after: binding.paceIteration() });
      },
    });
    expect(seen).toEqual([{ left: Infinity, before: seen[0]!.before, after: seen[0]!.before }]);
    expect(countsFor(name).timers).toBe(0);
    await c.quit();
  });
});

describe('bad budgets and bad paced() arguments', () => {
  let c: UnloadCoordinator | undefined;
  afterEach(async () => {
    await c?.quit();
    c = undefined;
  });

  it('throw a TypeError or RangeError naming the option', async () => {
    for (const bad of ['1', null, 1n, {}]) {
      const e = thrown(() => new UnloadCoordinator({ budgetMs: bad as never }));
      expect(e).toBeInstanceOf(TypeError);
      expect(e.message).toContain('"budgetMs"');
    }
    for (const bad of [0, -1, NaN, -Infinity]) {
      const e = thrown(() => new UnloadCoordinator({ budgetMs: bad }));
      expect(e).toBeInstanceOf(RangeError);
      expect(e.message).toContain('"budgetMs"');
    }
    c = coordinator();
    const name = uniqueName('paced-bad-');
    await c.load(name, {});
    expect(await rejection(c.unload(name, { budgetMs: 0 }))).toBeInstanceOf(RangeError);
    expect(await rejection(c.unload(name, { budgetMs: 'fast' as never }))).toBeInstanceOf(TypeError);
    expect(await rejection(c.quit({ budgetMs: -5 }))).toBeInstanceOf(RangeError);
    expect(c.has(name)).toBe(true);
  });

  it('paced() refuses what is not an iterable or not a function', async () => {
    c = coordinator();
    const name = uniqueName('paced-bad-args-');
    const errors: Error[] = [];
    await c.load(name, {
      async init(ctx) {
        for (const call of [() => ctx.paced(5 as never, () => {}), () => ctx.paced(null as never, () => {}), () => ctx.paced([1], 'f' as never)]) {
          errors.push(await rejection(call()));
        }
      },
    });
    expect(errors.map((e) => e.constructor)).toEqual([TypeError, TypeError, TypeError]);
    expect(errors[0]!.message).toContain('"items"');
    expect(errors[2]!.message).toContain('"fn"');
  });

  it('a throwing item ends the run with its error and leaves nothing waiting', async () => {
    c = coordinator({ budgetMs: 0.05 });
    const name = uniqueName('paced-throw-');
    let caught: unknown;
    await c.load(name, {
      async cleanup(ctx) {
        try {
          await ctx.paced([1, 2, 3, 4, 5, 6], (n) => {
            busy(0.06);
            if (n === 4) throw new Error('item 4');
          });
        } catch (error) {
          caught = error;
        }
      },
    });
    const report = await c.unload(name);
    expect((caught as Error).message).toBe('item 4');
    expect(report.pacing).toEqual({ budgetMs: 0.05, waiting: 0, itemsLeft: 0 });
  });
});
