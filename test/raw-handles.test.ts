// Raw libuv handles and requests made by a real native addon (the fixture),
// tagged and counted through uv-drain's C API: exact per-owner counts at
// every stage of a handle's life, and in-flight requests.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { countsByOwner, countsFor, snapshot, stats } from '../dist/index.js';
import { FIXTURE_PATH, fixtureBaselinePerTest, fsWrite, KIND_NAMES, KINDS, loadFixture, queueWork, type Kind, UV_ENOTSUP } from './fixture.js';
import { loopTotals, movedBy, uniqueName, until } from './helpers.js';

const fx = loadFixture();
const ZERO = { total: 0, active: 0, ref: 0, closing: 0, requests: 0, timers: 0 };

/** A fresh owner name per test: ids are permanent, counts must start from nothing. */
const freshOwner = (what: string) => uniqueName(`raw-handles:${what}:`);

fixtureBaselinePerTest(fx);

type Stage = 'created' | 'started' | 'unrefd' | 'stopped' | 'closing';

function stagesOf(kind: Kind): Stage[] {
  return ['created', 'started', 'unrefd', ...(KINDS[kind].stoppable ? (['stopped'] as const) : []), 'closing'];
}

/** Moves handle `id` into `stage` (from the stage before it). */
function enter(kind: Kind, id: string, stage: Stage): void {
  switch (stage) {
    case 'created':
      return;
    case 'started':
      // async is active from uv_async_init on and has no start.
      expect(fx.start(id)).toBe(kind === 'async' ? UV_ENOTSUP : 0);
      return;
    case 'unrefd':
      fx.unref(id);
      return;
    case 'stopped':
      expect(fx.stop(id)).toBe(0);
      return;
    case 'closing':
      expect(fx.close(id)).toBe(0);
      return;
  }
}

/** Exact handle counts of the owner of one handle in `stage`. */
function expectedAt(kind: Kind, stage: Stage) {
  const handle = {
    created: { total: 1, active: KINDS[kind].activeOnCreate ? 1 : 0, ref: 1, closing: 0 },
    started: { total: 1, active: 1, ref: 1, closing: 0 },
    unrefd: { total: 1, active: 1, ref: 0, closing: 0 },
    stopped: { total: 1, active: 0, ref: 0, closing: 0 },
    // uv_close stops the handle; the ref flag stays as it was (unref'd here).
    closing: { total: 1, active: 0, ref: 0, closing: 1 },
  }[stage];
  return { ...handle, requests: 0, timers: 0 };
}

/** Creates a tagged handle and walks it through every stage up to `upTo`. */
function driveTo(kind: Kind, owner: string, upTo: Stage): string {
  const id = fx.create(kind, owner);
  for (const stage of stagesOf(kind)) {
    enter(kind, id, stage);
    if (stage === upTo) break;
  }
  return id;
}

const STAGE_TEXT: Record<Stage, string> = {
  created: 'right after it is created and tagged',
  started: 'once started',
  unrefd: 'after uv_unref (ref drops, active stays)',
  stopped: 'after it is stopped (active drops)',
  closing: 'between uv_close and its close callback (total 1, closing 1)',
};

describe.each(KIND_NAMES)('a raw %s handle made by a native addon', (kind) => {
  it('leaves its owner with nothing counted before it is created', () => {
    const owner = freshOwner(kind);
    expect(countsFor(owner)).toEqual(ZERO);
    expect(countsByOwner()[owner]).toBeUndefined();
  });

  for (const stage of stagesOf(kind)) {
    const text = kind === 'async' && stage === 'started' ? 'while active (uv_async_init started it)' : STAGE_TEXT[stage];
    it(`counts exactly its owner's handle ${text}`, () => {
      const owner = freshOwner(kind);
      driveTo(kind, owner, stage);
      expect(countsFor(owner)).toEqual(expectedAt(kind, stage));
    });
  }

  it('counts a handle closed while active and referenced as closing, not active, still referenced', () => {
    const owner = freshOwner(kind);
    const id = fx.create(kind, owner);
    if (kind !== 'async') expect(fx.start(id)).toBe(0);
    expect(fx.close(id)).toBe(0);
    expect(countsFor(owner)).toEqual({ ...ZERO, total: 1, ref: 1, closing: 1 });
  });

  it('counts nothing for its owner once its close callback has run', async () => {
    const owner = freshOwner(kind);
    const id = driveTo(kind, owner, 'closing');
    await until(() => !fx.isLive(id), `the ${kind} close callback`);
    expect(countsFor(owner)).toEqual(ZERO);
    expect(countsByOwner()[owner]).toBeUndefined();
    expect(snapshot().some((h) => h.id === id)).toBe(false);
  });

  it('is counted the same by countsByOwner() and countsFor() at every stage', async () => {
    const owner = freshOwner(kind);
    const id = fx.create(kind, owner);
    for (const stage of stagesOf(kind)) {
      enter(kind, id, stage);
      expect(countsByOwner()[owner], stage).toEqual(countsFor(owner));
      expect(countsFor(owner), stage).toEqual(expectedAt(kind, stage));
    }
    await until(() => !fx.isLive(id), `the ${kind} close callback`);
    expect(countsByOwner()[owner]).toBeUndefined();
  });

  it('moves the stats() totals by exactly this handle at every stage', async () => {
    const owner = freshOwner(kind);
    const before = stats();
    const id = fx.create(kind, owner);
    for (const stage of stagesOf(kind)) {
      enter(kind, id, stage);
      const want = expectedAt(kind, stage);
      const now = stats();
      expect(
        {
          handles: now.handles - before.handles,
          active: now.active - before.active,
          ref: now.ref - before.ref,
          closing: now.closing - before.closing,
        },
        stage,
      ).toEqual({ handles: want.total, active: want.active, ref: want.ref, closing: want.closing });
    }
    // The whole loop's totals also move with whatever else the process does while the close callback is
    // awaited (a runner's handle born, another one finished): movedBy() takes those others out.
    const closing = loopTotals();
    await until(() => !fx.isLive(id), `the ${kind} close callback`);
    expect(movedBy(closing, loopTotals(), [id])).toEqual({ handles: -1, closing: -1 });
  });

  it('is listed by snapshot() with its type, owner, fd and state at every stage', () => {
    const owner = freshOwner(kind);
    const id = fx.create(kind, owner);
    const fd = fx.fd(id);
    if (KINDS[kind].hasFd) expect(fd).toBeGreaterThanOrEqual(0);
    else expect(fd).toBeNull();
    for (const stage of stagesOf(kind)) {
      enter(kind, id, stage);
      const want = expectedAt(kind, stage);
      const listed = snapshot().filter((h) => h.id === id);
      expect(listed, stage).toHaveLength(1);
      expect(listed[0], stage).toMatchObject({
        id,
        type: kind,
        owner,
        active: want.active === 1,
        ref: want.ref === 1,
        closing: want.closing === 1,
        // uv_fileno() reports no descriptor for a closing handle (UV_EBADF).
        fd: stage === 'closing' ? null : fd,
      });
    }
  });
});

describe('requests counted through the C API', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uv-drain-fixture-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('counts a uv_fs open/write/fsync/close chain as one request of its owner until its last callback', async () => {
    const owner = freshOwner('fs');
    const file = path.join(dir, 'out.txt');
    const { rc, done } = fsWrite(fx, file, owner);
    expect(rc).toBe(0);
    expect(countsFor(owner)).toEqual({ ...ZERO, requests: 1 });
    const { status, seen } = await done;
    expect(status).toBe(0);
    // Each step's callback saw its own request still in flight (before request_end).
    expect(seen).toEqual([1, 1, 1, 1]);
    expect(countsFor(owner)).toEqual(ZERO);
    expect(fs.readFileSync(file, 'utf8')).toBe('uv-drain fixture\n');
  });

  it('counts a uv_queue_work item while its work is running on the thread pool', async () => {
    const owner = freshOwner('work');
    const startedBefore = fx.workStarted();
    const { rc, done } = queueWork(fx, owner, { hold: true });
    expect(rc).toBe(0);
    await until(() => fx.workStarted() > startedBefore, 'the work to start on a pool thread');
    // The work is blocked until releaseWork(): certainly in flight now.
    expect(countsFor(owner)).toEqual({ ...ZERO, requests: 1 });
    expect(stats().activeReqs).toBeGreaterThanOrEqual(1);
    fx.releaseWork();
    const result = await done;
    expect(result).toEqual({ status: 0, seen: 1, timedOut: false });
    expect(countsFor(owner)).toEqual(ZERO);
  });

  it('counts a work item that sleeps a few milliseconds until its after-work callback', async () => {
    const owner = freshOwner('sleep');
    const { rc, done } = queueWork(fx, owner, { sleepMs: 20 });
    expect(rc).toBe(0);
    expect(countsFor(owner).requests).toBe(1);
    expect(await done).toEqual({ status: 0, seen: 1, timedOut: false });
    expect(countsFor(owner).requests).toBe(0);
  });

  it('counts an fs chain and a work item of one owner together, and nothing once both callbacks ran', async () => {
    const owner = freshOwner('both');
    const work = queueWork(fx, owner, { hold: true });
    const write = fsWrite(fx, path.join(dir, 'both.txt'), owner);
    expect([work.rc, write.rc]).toEqual([0, 0]);
    expect(countsFor(owner)).toEqual({ ...ZERO, requests: 2 });
    expect(countsByOwner()[owner]).toEqual({ ...ZERO, requests: 2 });
    // The held work item stays in flight through the whole fs chain.
    expect((await write.done).seen).toEqual([2, 2, 2, 2]);
    expect(countsFor(owner).requests).toBe(1);
    fx.releaseWork();
    expect((await work.done).seen).toBe(1);
    expect(countsFor(owner)).toEqual(ZERO);
    expect(countsByOwner()[owner]).toBeUndefined();
  });
});

describe('raw handles in a worker thread', () => {
  const workerUrl = new URL('./fixtures/worker.mjs', import.meta.url);

  function nextMessage(worker: Worker, phase: string): Promise<any> {
    return new Promise((resolve, reject) => {
      const onMessage = (msg: { phase: string }) => {
        if (msg.phase !== phase) return;
        worker.off('message', onMessage);
        worker.off('error', reject);
        resolve(msg);
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
  }

  it("counts a worker's tagged raw handles on the worker's loop only, and the worker exits cleanly after closing them", async () => {
    const owner = freshOwner('worker');
    const worker = new Worker(workerUrl, { workerData: { fixture: FIXTURE_PATH, owner, mode: 'lifecycle' } });
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    const errors: unknown[] = [];
    worker.on('error', (e) => errors.push(e));

    const open = await nextMessage(worker, 'open');
    expect(open.loop).not.toBe(fx.loopAddress());
    expect(open.counts).toEqual({ ...ZERO, total: 7, active: 7, ref: 7 });
    expect(open.byOwner).toEqual(open.counts);
    expect(open.handles.map((h: { type: string }) => h.type)).toEqual(KIND_NAMES);
    // The same owner name on the main thread's loop has nothing.
    expect(countsFor(owner)).toEqual(ZERO);
    expect(snapshot().filter((h) => h.owner === owner)).toEqual([]);
    expect(countsByOwner()[owner]).toBeUndefined();

    const closing = nextMessage(worker, 'closing');
    const closed = nextMessage(worker, 'closed');
    worker.postMessage('close');
    expect((await closing).counts).toEqual({ ...ZERO, total: 7, ref: 7, closing: 7 });
    const last = await closed;
    expect(last.counts).toEqual(ZERO);
    expect(last.byOwner).toBeNull();
    expect(last.closeCallbacks).toBe(7);
    expect(await exited).toBe(0);
    expect(errors).toEqual([]);
    expect(countsFor(owner)).toEqual(ZERO);
  });

  it('lets a worker exit with tagged raw handles still open (the fixture closes them from its async cleanup hook)', async () => {
    const owner = freshOwner('worker-exit');
    const worker = new Worker(workerUrl, { workerData: { fixture: FIXTURE_PATH, owner, mode: 'exit-open' } });
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    const errors: unknown[] = [];
    worker.on('error', (e) => errors.push(e));
    const open = await nextMessage(worker, 'open');
    expect(open.counts.total).toBe(7);
    expect(await exited).toBe(0);
    expect(errors).toEqual([]);
  });
});
