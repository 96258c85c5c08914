// whenDrained(owner, { timeoutMs, signal }) on its own, with real handles:
// raw uv handles of the test fixture (tagged through the C API, their close
// callbacks call JS), net sockets, JS timers and fs requests. The drain must
// be seen in the first loop iteration after the owner's last close callback
// (counted with the native watcher's iteration counter), also when that
// close was the last thing keeping the loop alive (in a child process).
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import * as util from 'node:util';
import { describe, expect, it } from 'vitest';
import { DrainTimeoutError, countsFor, trackOwners, whenDrained, withOwner } from '../dist/index.js';
import { binding } from '../dist/native.js';
import { loadFixture } from './fixture.js';
import { baselinePerTest, uniqueName } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const SCRIPTS = path.join(root, 'test', 'scripts');
const NOTHING = { total: 0, active: 0, ref: 0, closing: 0, requests: 0, timers: 0 };

const fx = loadFixture();
const fresh = (what: string) => uniqueName(`drain:${what}:`);

const rawHandles = new Set<string>();

baselinePerTest({
  tidy() {
    trackOwners(false);
    for (const id of rawHandles) if (fx.isLive(id)) fx.close(id);
    rawHandles.clear();
  },
});

/** A started raw uv timer tagged with `owner` (active, referenced). */
function rawTimer(owner: string): string {
  const id = fx.create('timer', owner);
  rawHandles.add(id);
  expect(fx.start(id)).toBe(0);
  return id;
}

/** Closes raw handle `id`; the promise resolves with the watcher's iteration inside its close callback. */
function closeRecordingIteration(id: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const rc = fx.close(id, () => resolve(binding.watchIteration()));
    if (rc !== 0) reject(new Error(`close(${id}) returned ${rc}`));
  });
}

/** The rejection of `fn()`, whether it throws synchronously or returns a rejected promise. */
async function failure(fn: () => Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await fn();
  } catch (error) {
    return error as Error & Record<string, unknown>;
  }
  throw new Error('expected a failure');
}

function runScript(script: string): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(SCRIPTS, script)], { timeout: 20_000 }, (error, stdout, stderr) => {
      const e = error as (Error & { code?: number; signal?: string }) | null;
      resolve({
        code: e === null ? 0 : typeof e.code === 'number' ? e.code : null,
        signal: e?.signal ?? null,
        stdout,
        stderr,
      });
    });
  });
}

function line(stdout: string, tag: string): Record<string, unknown> | undefined {
  const found = stdout.split('\n').find((l) => l.startsWith(`${tag} `));
  return found === undefined ? undefined : (JSON.parse(found.slice(tag.length + 1)) as Record<string, unknown>);
}

describe('whenDrained resolves', () => {
  it('at once, with zero iterations, for an owner with nothing', async () => {
    const owner = fresh('empty');
    const result = await whenDrained(owner);
    expect(result).toMatchObject({ owner, iterations: 0 });
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
  });

  it("in the first loop iteration after the owner's last close callback", async () => {
    const owner = fresh('raw');
    const id = rawTimer(owner);
    const first = binding.watchIteration();
    const drained = whenDrained(owner);
    const closedAt = await closeRecordingIteration(id);
    const result = await drained;
    const seenAt = first + result.iterations;
    expect(seenAt - closedAt).toBeGreaterThanOrEqual(0);
    expect(seenAt - closedAt).toBeLessThanOrEqual(1);
    expect(countsFor(owner)).toEqual(NOTHING);
  });

  it('only after the last of several handles closed, closed in different iterations', async () => {
    const owner = fresh('several');
    const ids = [rawTimer(owner), rawTimer(owner), rawTimer(owner)];
    const first = binding.watchIteration();
    let settled = false;
    const drained = whenDrained(owner).then((r) => {
      settled = true;
      return r;
    });
    let lastClosedAt = -1;
    for (const id of ids) {
      expect(settled).toBe(false);
      lastClosedAt = await closeRecordingIteration(id);
    }
    const result = await drained;
    const seenAt = first + result.iterations;
    expect(seenAt - lastClosedAt).toBeGreaterThanOrEqual(0);
    expect(seenAt - lastClosedAt).toBeLessThanOrEqual(1);
  });

  it("in the first loop iteration after an owned socket's close callback ('close' event)", async () => {
    const owner = fresh('socket');
    const server = net.createServer((peer) => peer.on('error', () => {}).resume());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    try {
      const client = withOwner(owner, () => net.connect(port, '127.0.0.1'));
      await once(client, 'connect');
      expect(countsFor(owner).total).toBe(1);
      const first = binding.watchIteration();
      const drained = whenDrained(owner);
      let closedAt = -1;
      client.on('close', () => (closedAt = binding.watchIteration()));
      client.destroy();
      const result = await drained;
      expect(closedAt).toBeGreaterThanOrEqual(0);
      const seenAt = first + result.iterations;
      expect(seenAt - closedAt).toBeGreaterThanOrEqual(0);
      expect(seenAt - closedAt).toBeLessThanOrEqual(1);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("only once the owner's pending JS timer has fired", async () => {
    const owner = fresh('timer');
    let fired = false;
    withOwner(owner, () =>
      setTimeout(() => {
        fired = true;
      }, 5),
    );
    expect(countsFor(owner).timers).toBe(1);
    await whenDrained(owner, { timeoutMs: 10_000 });
    expect(fired).toBe(true);
    expect(countsFor(owner)).toEqual(NOTHING);
  });

  it("only once the owner's in-flight fs requests have completed (fs.readFile: open, stat, read, close)", async () => {
    const owner = fresh('request');
    trackOwners(true); // readFile's later steps are born in the callbacks of its earlier ones
    let read: Buffer | undefined;
    withOwner(owner, () =>
      fs.readFile(fileURLToPath(import.meta.url), (err, data) => {
        if (err === null) read = data;
      }),
    );
    expect(countsFor(owner).requests).toBe(1);
    await whenDrained(owner, { timeoutMs: 10_000 });
    expect(read).toBeInstanceOf(Buffer);
    expect(countsFor(owner)).toEqual(NOTHING);
  });

  it('when the last close was the last thing keeping the loop alive (child process ends by itself)', async () => {
    const r = await runScript('quit-drain-last-close.mjs');
    expect(r.signal).toBeNull();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const out = line(r.stdout, 'UVD-DRAIN') as {
      closeIteration: number;
      drainIteration: number;
      holdingAtClose: { type: string; owner: string | null; module: string | null }[];
      result: { owner: string };
    };
    expect(out, r.stdout + r.stderr).toBeDefined();
    expect(out.result.owner).toBe('last');
    // At the close callback nothing else held the loop but the drain watcher.
    expect(out.holdingAtClose).toEqual([
      { type: 'prepare', owner: null, module: fs.realpathSync(path.join(root, 'build', 'Release', 'uv_drain.node')) },
    ]);
    expect(out.closeIteration).toBeGreaterThan(0);
    expect(out.drainIteration - out.closeIteration).toBeGreaterThanOrEqual(0);
    expect(out.drainIteration - out.closeIteration).toBeLessThanOrEqual(1);
  });
});

describe('whenDrained never keeps a process alive by itself', () => {
  it("a process waiting on an owner that only has an unref'd handle ends by itself", async () => {
    const r = await runScript('quit-drain-unref.mjs');
    expect(r.signal).toBeNull();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const out = line(r.stdout, 'UVD-EXIT');
    expect(out, r.stdout + r.stderr).toEqual({
      code: 0,
      settled: 'pending',
      counts: { total: 1, active: 1, ref: 0, closing: 0, requests: 0, timers: 0 },
    });
  });

  it("a process waiting on an owner whose only timer was unref'd after the watch started ends by itself", async () => {
    const r = await runScript('drain-unref-timer.cjs');
    expect(r.signal).toBeNull();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(line(r.stdout, 'UVD-EXIT'), r.stdout + r.stderr).toEqual({
      code: 0,
      settled: 'pending',
      fired: false,
      immediate: true,
      counts: { total: 0, active: 0, ref: 0, closing: 0, requests: 0, timers: 1 },
    });
  });
});

describe('whenDrained gives up', () => {
  it('with DrainTimeoutError carrying the counts when timeoutMs passes', async () => {
    const owner = fresh('timeout');
    rawTimer(owner);
    const err = await failure(() => whenDrained(owner, { timeoutMs: 20 }));
    expect(err).toBeInstanceOf(DrainTimeoutError);
    expect(err).toMatchObject({
      code: 'UVD_ERR_DRAIN_TIMEOUT',
      owner,
      left: { total: 1, active: 1, ref: 1, closing: 0, requests: 0, timers: 0 },
    });
  });

  it("with the signal's reason when the signal aborts while waiting", async () => {
    const owner = fresh('abort');
    rawTimer(owner);
    const controller = new AbortController();
    const waiting = whenDrained(owner, { signal: controller.signal });
    const reason = new Error('no longer needed');
    controller.abort(reason);
    expect(await failure(() => waiting)).toBe(reason);
  });

  it('with an AbortError when the signal aborts without a reason', async () => {
    const owner = fresh('abort-default');
    rawTimer(owner);
    const controller = new AbortController();
    const waiting = whenDrained(owner, { signal: controller.signal });
    controller.abort();
    const err = await failure(() => waiting);
    expect(err.name).toBe('AbortError');
  });

  it('at once when the signal is already aborted', async () => {
    const owner = fresh('aborted');
    rawTimer(owner);
    const reason = new Error('already gone');
    const err = await failure(() => whenDrained(owner, { signal: AbortSignal.abort(reason) }));
    expect(err).toBe(reason);
  });

  it('and stops watching: the drain watcher lets go of its handle after a timeout', async () => {
    const owner = fresh('let-go');
    rawTimer(owner);
    await failure(() => whenDrained(owner, { timeoutMs: 20 }));
    expect(binding.watcherHasHandle()).toBe(false);
  });
});

describe('whenDrained rejects bad input', () => {
  it('a timeoutMs that is not a number: TypeError naming timeoutMs', async () => {
    const err = await failure(() => whenDrained(fresh('bad'), { timeoutMs: '10' as never }));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toContain('"timeoutMs"');
  });

  it('a timeoutMs of 0, below 1 ms, a negative one, NaN or one beyond 2^31-1: RangeError naming timeoutMs', async () => {
    for (const timeoutMs of [0, 0.5, -5, Number.NaN, 2 ** 31]) {
      const err = await failure(() => whenDrained(fresh('bad'), { timeoutMs }));
      expect(err).toBeInstanceOf(RangeError);
      expect(err.message).toContain('"timeoutMs"');
    }
  });

  it('a signal that is not an AbortSignal: TypeError naming signal', async () => {
    const err = await failure(() => whenDrained(fresh('bad'), { signal: {} as never }));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toContain('"signal"');
  });

  it('options that are not an object: TypeError naming options', async () => {
    const err = await failure(() => whenDrained(fresh('bad'), null as never));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toContain('"options"');
  });

  it('an owner that is not a non-empty string: TypeError or RangeError naming owner', async () => {
    const notString = await failure(() => whenDrained(5 as never));
    expect(notString).toBeInstanceOf(TypeError);
    expect(notString.message).toContain('"owner"');
    const empty = await failure(() => whenDrained(''));
    expect(empty).toBeInstanceOf(RangeError);
    expect(empty.message).toContain('"owner"');
  });
});

describe('JS timers of a watched owner', () => {
  // The watcher calls into JS when native counts change; JS timers tell JS
  // themselves when they end (their callback, or any clear), so a pending
  // timer costs no call per loop iteration.
  const { watchOwner } = createRequire(import.meta.url)('../dist/drain.js') as {
    watchOwner(owner: string, listener: (counts: { timers: number }) => boolean | void): () => void;
  };

  it('are not re-counted at every loop iteration while pending', async () => {
    const owner = fresh('timer-quiet');
    const timer = withOwner(owner, () => setTimeout(() => {}, 60_000));
    const calls: number[] = [];
    const stop = watchOwner(owner, (c) => {
      calls.push(c.timers);
    });
    try {
      // The call at watch time and the watcher's first iteration (it starts from "unknown").
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
      expect(calls).toEqual([1, 1]);
      for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
      expect(calls).toEqual([1, 1]);
    } finally {
      stop();
      clearTimeout(timer);
    }
  });

  for (const [what, end] of [
    ['clearTimeout', (t: NodeJS.Timeout) => clearTimeout(t)],
    ['timeout.close()', (t: NodeJS.Timeout) => t.close()],
  ] as const) {
    it(`are seen gone at once when other code ends one with ${what}`, async () => {
      const owner = fresh('timer-cleared');
      const timer = withOwner(owner, () => setTimeout(() => {}, 60_000));
      const drained = whenDrained(owner);
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      const before = binding.watchIteration();
      end(timer);
      const result = await drained;
      expect(result.owner).toBe(owner);
      // Noticed from the clear itself (a microtask), before any further loop iteration.
      expect(binding.watchIteration() - before).toBe(0);
    });
  }

  it('are seen gone at once when other code clears an immediate', async () => {
    const owner = fresh('immediate-cleared');
    let before = -1;
    // Nobody's immediate, queued first: it clears the owner's in the same check phase.
    setImmediate(() => {
      before = binding.watchIteration();
      clearImmediate(immediate);
    });
    const immediate = withOwner(owner, () => setImmediate(() => {}));
    await whenDrained(owner);
    // Noticed from the clear itself (a microtask of that check phase), not at the next prepare callback.
    expect(before).toBeGreaterThanOrEqual(0);
    expect(binding.watchIteration() - before).toBe(0);
    expect(countsFor(owner)).toEqual(NOTHING);
  });

  it('are seen gone when an aborted timers/promises wait ends its timer', async () => {
    const owner = fresh('timer-aborted');
    const controller = new AbortController();
    const wait = withOwner(owner, () => sleep(60_000, undefined, { signal: controller.signal }));
    const drained = whenDrained(owner);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    controller.abort();
    await expect(wait).rejects.toThrow(/aborted/);
    await drained;
    expect(countsFor(owner)).toEqual(NOTHING);
  });
});

describe("JS timers' ends are told from their birth (an accessor on Node's timer prototypes)", () => {
  // Every owned timer tells its end from its birth on, so starting a watch
  // walks none of them, and the owner's count stays exact between reads.
  const { watchOwner } = createRequire(import.meta.url)('../dist/drain.js') as {
    watchOwner(owner: string, listener: (counts: { timers: number }) => boolean | void): () => void;
  };
  const turn = () => new Promise((r) => setImmediate(r));

  it('timers made before the watch started and cleared one per iteration after it: counted down exactly, the drain seen at the last clear', async () => {
    const owner = fresh('timers-before-watch');
    const timers = withOwner(owner, () => Array.from({ length: 200 }, () => setTimeout(() => {}, 60_000)));
    // No field of its own: the prototype's accessor serves it, before and after the watch starts,
    // and starting the watch touches no timer (it adds nothing to any of them).
    const keys = (t: object) => Reflect.ownKeys(t).map(String).join();
    const before = timers.map(keys);
    expect(Object.getOwnPropertyDescriptor(timers[0]!, '_destroyed')).toBeUndefined();
    const drained = whenDrained(owner);
    expect(timers.map(keys)).toEqual(before);
    expect(Object.getOwnPropertyDescriptor(timers[199]!, '_destroyed')).toBeUndefined();
    const left: number[] = [];
    for (const [i, timer] of timers.entries()) {
      if (i === timers.length - 1) break;
      clearTimeout(timer);
      if (i % 50 === 0) left.push(countsFor(owner).timers);
      await turn();
    }
    expect(left).toEqual([199, 149, 99, 49]);
    const iteration = binding.watchIteration();
    clearTimeout(timers[timers.length - 1]);
    await drained;
    expect(binding.watchIteration() - iteration).toBe(0);
    expect(countsFor(owner)).toEqual(NOTHING);
  });

  it('a timer that fired, refreshed under its owner, is counted again (once, however often refreshed), and its clear is told', async () => {
    const owner = fresh('timer-refreshed');
    const timer = withOwner(owner, () => setTimeout(() => {}, 1));
    await whenDrained(owner);
    // A refresh after the end is a new birth: the owner current then has it.
    withOwner(owner, () => timer.refresh());
    expect(countsFor(owner).timers).toBe(1);
    const drained = whenDrained(owner);
    timer.refresh(); // pending: no new birth
    withOwner(owner, () => timer.refresh());
    expect(countsFor(owner).timers).toBe(1);
    for (let i = 0; i < 3; i++) await turn();
    const before = binding.watchIteration();
    clearTimeout(timer);
    await drained;
    expect(binding.watchIteration() - before).toBe(0);
    expect(countsFor(owner)).toEqual(NOTHING);
  });

  it("an unref'd timer is still pending: the owner waits for it, and its clear is told", async () => {
    const owner = fresh('timer-unref');
    const timer = withOwner(owner, () => setTimeout(() => {}, 60_000));
    let result: { iterations: number } | undefined;
    const drained = whenDrained(owner).then((r) => (result = r));
    timer.unref();
    for (let i = 0; i < 5; i++) await turn();
    expect(result).toBeUndefined();
    expect(countsFor(owner).timers).toBe(1);
    const before = binding.watchIteration();
    clearTimeout(timer);
    await drained;
    expect(binding.watchIteration() - before).toBe(0);
  });

  it('an interval cleared from its own callback, and an immediate that runs: each end told in its own phase', async () => {
    const owner = fresh('interval-immediate');
    let fired = 0;
    let clearedAt = -1;
    const interval = withOwner(owner, () =>
      setInterval(() => {
        if (++fired < 3) return;
        clearInterval(interval);
        clearedAt = binding.watchIteration();
      }, 1),
    );
    const drained = whenDrained(owner);
    await drained;
    expect(fired).toBe(3);
    expect(binding.watchIteration() - clearedAt).toBe(0);

    let ranAt = -1;
    withOwner(owner, () => setImmediate(() => (ranAt = binding.watchIteration())));
    const calls: number[] = [];
    const stop = watchOwner(owner, (c) => {
      calls.push(c.timers);
    });
    try {
      expect(calls).toEqual([1]);
      while (ranAt < 0) await turn();
      // The immediate's end was told before its callback ran (Node marks it then).
      expect(calls.at(-1)).toBe(0);
    } finally {
      stop();
    }
  });

  it("nobody's timers ending while a watch is on tell it nothing", async () => {
    const owner = fresh('timer-others');
    const mine = withOwner(owner, () => setTimeout(() => {}, 60_000));
    const calls: number[] = [];
    const stop = watchOwner(owner, (c) => {
      calls.push(c.timers);
    });
    try {
      for (let i = 0; i < 3; i++) await turn();
      const settled = calls.length;
      for (let i = 0; i < 100; i++) clearTimeout(setTimeout(() => {}, 60_000));
      for (let i = 0; i < 10; i++) clearImmediate(setImmediate(() => {}));
      await new Promise<void>((r) => setTimeout(r, 2));
      for (let i = 0; i < 3; i++) await turn();
      expect(calls.length).toBe(settled);
    } finally {
      stop();
      clearTimeout(mine);
    }
  });

  it('an aborted timers/promises wait made before the watch started ends its timer, told at once', async () => {
    const owner = fresh('timer-promise-abort');
    const controller = new AbortController();
    const wait = withOwner(owner, () => sleep(60_000, undefined, { signal: controller.signal }));
    wait.catch(() => {});
    expect(countsFor(owner).timers).toBe(1);
    const drained = whenDrained(owner);
    for (let i = 0; i < 3; i++) await turn();
    const before = binding.watchIteration();
    controller.abort();
    await drained;
    expect(binding.watchIteration() - before).toBe(0);
    await expect(wait).rejects.toThrow(/aborted/);
  });

  it('util.inspect of a timer shows its _destroyed value, before and after its end', () => {
    // `[Symbol(x)]: v` up to Node 22, `Symbol(x): v` from Node 24.
    const shows = (value: boolean) => new RegExp(`\\[?Symbol\\(uv-drain:_destroyed\\)\\]?: ${value}`);
    const owner = fresh('timer-inspect');
    const owned = withOwner(owner, () => setTimeout(() => {}, 60_000));
    const nobodys = setTimeout(() => {}, 60_000);
    const immediate = setImmediate(() => {});
    for (const t of [owned, nobodys, immediate]) expect(util.inspect(t)).toMatch(shows(false));
    clearTimeout(owned);
    clearTimeout(nobodys);
    clearImmediate(immediate);
    for (const t of [owned, nobodys, immediate]) {
      expect(util.inspect(t)).toMatch(shows(true));
      expect((t as unknown as { _destroyed: boolean })._destroyed).toBe(true);
    }
    expect(countsFor(owner)).toEqual(NOTHING);
  });

  it('timers made before uv-drain was loaded keep working, and one refreshed under an owner is told (child process)', async () => {
    const { code, stdout, stderr } = await runScript('timers-before-load.cjs');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const first = line(stdout, 'UVD-EARLY');
    expect(first).toEqual({
      seen: expect.arrayContaining(['timeout fired', 'immediate ran', 'interval cleared']),
      ownFields: true,
      early: { own: true, destroyed: true },
      late: { own: false, destroyed: false },
      inspectEarly: true,
      inspectLate: true,
    });
    expect((first!.seen as string[]).length).toBe(3);
    const second = stdout.split('\n').filter((l) => l.startsWith('UVD-EARLY '))[1];
    expect(JSON.parse(second!.slice('UVD-EARLY '.length))).toEqual({ counted: 1, after: 0, iterations: 0, owner: 'early' });
  });
});
