// uv-drain's C API (native/include/uv_drain.h), called from C by a real
// native addon (the fixture): the table, owner ids, tags, request counting,
// and bad arguments (which must return UV_EINVAL and never crash).
import { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { capabilities, countsByOwner, countsFor, snapshot } from '../dist/index.js';
import { FIXTURE_PATH, fixtureBaselinePerTest, loadFixture, UV_EINVAL } from './fixture.js';
import { uniqueName, until } from './helpers.js';

const fx = loadFixture();
const ZERO = { total: 0, active: 0, ref: 0, closing: 0, requests: 0, timers: 0 };
const INDEX_MASK = 0xfffff; // owner ids: low 20 bits index, high 12 bits per-loop salt

const freshOwner = (what: string) => uniqueName(`capi:${what}:`);

/** The id of `name` on this thread's loop, made through the C API. */
function ownerId(name: string): number {
  const { rc, id } = fx.owner('main', name);
  expect(rc).toBe(0);
  return id;
}

fixtureBaselinePerTest(fx);

describe('the C API table', () => {
  it('has the version and size of the uv_drain.h the fixture was built with', () => {
    const info = fx.apiInfo();
    expect(info.version).toBe(1);
    expect(info.version).toBe(info.headerVersion);
    expect(info.size).toBe(info.headerSize);
    expect(capabilities.capiVersion).toBe(info.version);
  });
});

describe('owner()', () => {
  it('gives the same nonzero id for the same name every time', () => {
    const name = freshOwner('stable');
    const first = ownerId(name);
    expect(first).not.toBe(0);
    expect(ownerId(name)).toBe(first);
    expect(ownerId(name)).toBe(first);
  });

  it('gives different ids to different names', () => {
    const ids = ['a', 'b', 'c'].map((n) => ownerId(freshOwner(n)));
    expect(new Set(ids).size).toBe(3);
  });

  it('shares its owners with the JavaScript API: a handle tagged from C is counted by countsFor(name)', () => {
    const name = freshOwner('shared');
    const id = fx.create('timer');
    expect(fx.tag(id, ownerId(name))).toBe(0);
    expect(countsFor(name)).toEqual({ ...ZERO, total: 1, ref: 1 });
    expect(snapshot().find((h) => h.id === id)?.owner).toBe(name);
  });

  it('accepts the longest name JavaScript accepts: 256 characters, 768 bytes of UTF-8', () => {
    const name = '€'.repeat(256);
    expect(Buffer.byteLength(name)).toBe(768);
    const { rc, id } = fx.owner('main', name);
    expect(rc).toBe(0);
    expect(id).not.toBe(0);
    expect(() => countsFor(name)).not.toThrow();
  });

  it('counts a character outside the BMP as two, the way JavaScript does', () => {
    expect(fx.owner('main', '😀'.repeat(128)).rc).toBe(0);
    expect(fx.owner('main', '😀'.repeat(128) + 'x').rc).toBe(UV_EINVAL);
  });

  it('rejects a name of 257 characters, as countsFor() does', () => {
    expect(fx.owner('main', 'n'.repeat(257)).rc).toBe(UV_EINVAL);
    expect(() => countsFor('n'.repeat(257))).toThrow(RangeError);
  });
});

describe('tag(), untag() and owner_of()', () => {
  it('tags a handle so that owner_of() returns its owner', () => {
    const owner = ownerId(freshOwner('tag'));
    const id = fx.create('idle');
    expect(fx.ownerOf(id)).toEqual({ rc: 0, owner: 0 });
    expect(fx.tag(id, owner)).toBe(0);
    expect(fx.ownerOf(id)).toEqual({ rc: 0, owner });
  });

  it('untags a handle: owner_of() returns 0 and the owner counts nothing', () => {
    const name = freshOwner('untag');
    const owner = ownerId(name);
    const id = fx.create('check', owner);
    expect(countsFor(name).total).toBe(1);
    expect(fx.untag(id)).toBe(0);
    expect(fx.ownerOf(id)).toEqual({ rc: 0, owner: 0 });
    expect(countsFor(name)).toEqual(ZERO);
    expect(snapshot().find((h) => h.id === id)?.owner).toBeNull();
  });

  it('returns 0 when untagging a handle that never had a tag', () => {
    const id = fx.create('prepare');
    expect(fx.untag(id)).toBe(0);
    expect(fx.ownerOf(id)).toEqual({ rc: 0, owner: 0 });
  });

  it('moves a retagged handle to its new owner', () => {
    const [a, b] = [freshOwner('from'), freshOwner('to')];
    const id = fx.create('timer', a);
    expect(fx.start(id)).toBe(0);
    expect(fx.tag(id, ownerId(b))).toBe(0);
    expect(fx.ownerOf(id)).toEqual({ rc: 0, owner: ownerId(b) });
    expect(countsFor(a)).toEqual(ZERO);
    expect(countsFor(b)).toEqual({ ...ZERO, total: 1, active: 1, ref: 1 });
  });

  it('rejects tagging a closing handle, which keeps its owner until its close callback', async () => {
    const [a, b] = [freshOwner('closing'), freshOwner('late')];
    const id = fx.create('tcp', a);
    expect(fx.close(id)).toBe(0);
    expect(fx.tag(id, ownerId(b))).toBe(UV_EINVAL);
    expect(fx.untag(id)).toBe(UV_EINVAL);
    expect(fx.ownerOf(id)).toEqual({ rc: 0, owner: ownerId(a) });
    expect(countsFor(a)).toMatchObject({ total: 1, closing: 1 });
    expect(countsFor(b).total).toBe(0);
    await until(() => !fx.isLive(id), 'the close callback');
    expect(countsFor(a)).toEqual(ZERO);
  });

  it.each(['timer', 'tcp'] as const)(
    'starts a new %s handle made in the memory of a closed tagged one untagged',
    async (kind) => {
      const name = freshOwner(`reuse-${kind}`);
      const old = fx.create(kind, name);
      expect(fx.close(old, undefined, /* keepMemory */ true)).toBe(0);
      await until(() => !fx.isLive(old), 'the close callback');
      const reborn = fx.create(kind, undefined, old);
      expect(reborn).toBe(old); // same address, old tag bits still in memory
      expect(fx.ownerOf(reborn)).toEqual({ rc: 0, owner: 0 });
      expect(countsFor(name)).toEqual(ZERO);
      expect(snapshot().find((h) => h.id === reborn)?.owner).toBeNull();
    },
  );
});

describe('bad arguments return UV_EINVAL and change nothing', () => {
  let probeName: string;
  let probeOwner: number;
  let probe: string;
  let unissued: number;
  let otherSalt: number;

  beforeEach(() => {
    expect(fx.foreignOpen()).toBe(0);
    probeName = freshOwner('probe');
    probeOwner = ownerId(probeName);
    probe = fx.create('timer', probeOwner);
    expect(fx.start(probe)).toBe(0);
    // Same salt, an index far beyond any issued; a valid index with another salt.
    unissued = ((probeOwner & ~INDEX_MASK) | INDEX_MASK) >>> 0;
    otherSalt = (probeOwner ^ 0x80000000) >>> 0;
  });

  afterEach(() => {
    // Nothing changed: the probe is still tagged and its owner's counts are intact.
    expect(fx.ownerOf(probe)).toEqual({ rc: 0, owner: probeOwner });
    expect(countsFor(probeName)).toEqual({ ...ZERO, total: 1, active: 1, ref: 1 });
    // The private loop closes cleanly (its timer closed, uv_loop_close() == 0).
    expect(fx.foreignClose()).toBe(0);
  });

  const cases: Array<[string, () => number]> = [
    ['owner() with a NULL loop', () => fx.owner(null, 'x').rc],
    ['owner() with a NULL name', () => fx.owner('main', null).rc],
    ['owner() with a NULL out pointer', () => fx.owner('main', 'x', true).rc],
    ['owner() with an empty name', () => fx.owner('main', '').rc],
    ['owner() with a name of 1025 bytes', () => fx.owner('main', 'n'.repeat(1025)).rc],
    ['owner() on a loop uv-drain is not loaded on', () => fx.owner('foreign', 'x').rc],
    ['tag() with a NULL handle', () => fx.tag(null, probeOwner)],
    ['tag() with owner 0', () => fx.tag(probe, 0)],
    ['tag() with an id that was never issued', () => fx.tag(probe, unissued)],
    ['tag() with an id of another salt', () => fx.tag(probe, otherSalt)],
    ['tag() of a handle of another loop', () => fx.tag('foreign', probeOwner)],
    ['untag() with a NULL handle', () => fx.untag(null)],
    ['untag() of a handle of another loop', () => fx.untag('foreign')],
    ['owner_of() with a NULL handle', () => fx.ownerOf(null).rc],
    ['owner_of() with a NULL out pointer', () => fx.ownerOf(probe, true).rc],
    ['owner_of() of a handle of another loop', () => fx.ownerOf('foreign').rc],
    ['request_begin() with a NULL loop', () => fx.requestBegin(null, probeOwner)],
    ['request_begin() with owner 0', () => fx.requestBegin('main', 0)],
    ['request_begin() with an id that was never issued', () => fx.requestBegin('main', unissued)],
    ['request_begin() on a loop uv-drain is not loaded on', () => fx.requestBegin('foreign', probeOwner)],
    ['request_end() with a NULL loop', () => fx.requestEnd(null, probeOwner)],
    ['request_end() with owner 0', () => fx.requestEnd('main', 0)],
    ['request_end() with an id that was never issued', () => fx.requestEnd('main', unissued)],
    ['request_end() on a loop uv-drain is not loaded on', () => fx.requestEnd('foreign', probeOwner)],
    ['request_end() without a matching request_begin()', () => fx.requestEnd('main', probeOwner)],
    ['counts() with a NULL loop', () => fx.counts(null, probeOwner).rc],
    ['counts() with a NULL out pointer', () => fx.counts('main', probeOwner, true).rc],
    ['counts() with owner 0', () => fx.counts('main', 0).rc],
    ['counts() with an id that was never issued', () => fx.counts('main', unissued).rc],
    ['counts() on a loop uv-drain is not loaded on', () => fx.counts('foreign', probeOwner).rc],
  ];

  it.each(cases)('for %s', (_name, call) => {
    expect(call()).toBe(UV_EINVAL);
  });
});

describe('owners of another loop', () => {
  it("rejects an owner id issued on a worker's loop", async () => {
    const name = freshOwner('worker-id');
    const worker = new Worker(new URL('./fixtures/worker.mjs', import.meta.url), {
      workerData: { fixture: FIXTURE_PATH, owner: name, mode: 'owner-id' },
    });
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    const msg = await new Promise<{ rc: number; id: number; loop: string }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    expect(await exited).toBe(0);
    expect(msg.rc).toBe(0);
    expect(msg.loop).not.toBe(fx.loopAddress());
    const local = ownerId(name);
    expect(msg.id).not.toBe(local);

    const id = fx.create('timer');
    expect(fx.tag(id, msg.id)).toBe(UV_EINVAL);
    expect(fx.ownerOf(id)).toEqual({ rc: 0, owner: 0 });
    expect(fx.requestBegin('main', msg.id)).toBe(UV_EINVAL);
    expect(fx.counts('main', msg.id).rc).toBe(UV_EINVAL);
    expect(countsFor(name)).toEqual(ZERO);
  });
});

describe('request_begin() and request_end()', () => {
  it('count begun requests until they end', () => {
    const name = freshOwner('requests');
    const owner = ownerId(name);
    expect(fx.requestBegin('main', owner)).toBe(0);
    expect(fx.requestBegin('main', owner)).toBe(0);
    expect(countsFor(name)).toEqual({ ...ZERO, requests: 2 });
    expect(countsByOwner()[name]).toEqual({ ...ZERO, requests: 2 });
    expect(fx.requestEnd('main', owner)).toBe(0);
    expect(fx.requestEnd('main', owner)).toBe(0);
    expect(countsFor(name)).toEqual(ZERO);
    expect(countsByOwner()[name]).toBeUndefined();
  });

  it('reject an end without its begin, and the count does not go negative', () => {
    const name = freshOwner('unbalanced');
    const owner = ownerId(name);
    expect(fx.requestEnd('main', owner)).toBe(UV_EINVAL);
    expect(countsFor(name).requests).toBe(0);
    expect(fx.counts('main', owner)).toMatchObject({ rc: 0, requests: 0 });
    // Had the failed end gone to -1, this begin would bring it back to 0.
    expect(fx.requestBegin('main', owner)).toBe(0);
    expect(countsFor(name).requests).toBe(1);
    expect(fx.requestEnd('main', owner)).toBe(0);
    expect(fx.requestEnd('main', owner)).toBe(UV_EINVAL);
    expect(countsFor(name).requests).toBe(0);
  });
});

describe('counts()', () => {
  it('agrees with countsFor() for an owner with handles in every state and requests in flight', () => {
    const name = freshOwner('counts');
    const owner = ownerId(name);
    const active = fx.create('timer', owner);
    expect(fx.start(active)).toBe(0);
    const unrefd = fx.create('poll', owner);
    expect(fx.start(unrefd)).toBe(0);
    fx.unref(unrefd);
    fx.create('check', owner); // idle, referenced
    const closing = fx.create('tcp', owner);
    expect(fx.start(closing)).toBe(0);
    expect(fx.close(closing)).toBe(0);
    fx.create('async', owner); // active from creation
    expect(fx.requestBegin('main', owner)).toBe(0);
    expect(fx.requestBegin('main', owner)).toBe(0);
    expect(fx.requestBegin('main', owner)).toBe(0);

    const { rc, ...fromC } = fx.counts('main', owner);
    expect(rc).toBe(0);
    const { timers, ...fromJs } = countsFor(name);
    expect(timers).toBe(0);
    expect(fromC).toEqual(fromJs);
    expect(fromC).toEqual({ total: 5, active: 3, ref: 4, closing: 1, requests: 3 });

    for (let i = 0; i < 3; i++) expect(fx.requestEnd('main', owner)).toBe(0);
  });

  it('counts zero for an owner with nothing alive', () => {
    expect(fx.counts('main', ownerId(freshOwner('empty')))).toEqual({
      rc: 0,
      total: 0,
      active: 0,
      ref: 0,
      closing: 0,
      requests: 0,
    });
  });
});

describe('calls from another thread', () => {
  it('rejects owner, tag, untag, owner_of and counts off the loop thread, and accepts request_begin/request_end there', async () => {
    const name = freshOwner('off-thread');
    const owner = ownerId(name);
    const id = fx.create('timer', owner);
    const results = await new Promise((resolve) => fx.offThread(id, owner, resolve));
    expect(results).toEqual({
      owner: UV_EINVAL,
      tag: UV_EINVAL,
      untag: UV_EINVAL,
      ownerOf: UV_EINVAL,
      counts: UV_EINVAL,
      requestBegin: 0,
      requestEnd: 0,
      status: 0,
    });
    // Nothing changed: still tagged, no request left over.
    expect(fx.ownerOf(id)).toEqual({ rc: 0, owner });
    expect(countsFor(name)).toEqual({ ...ZERO, total: 1, ref: 1 });
  });
});
