// Property-based lifecycles of real Node handles — MessageChannel ports, net
// servers on 127.0.0.1:0, JS timers and immediates — born under owners
// (withOwner, with owner tracking on), mixed with raw fixture handles under
// the same owners: random births, ref/unref, closes (at once, from inside a
// fixture handle's close callback, from a thread-pool job's callback),
// requests and drains. After every step uv-drain is checked against an
// independent model and Node's diagnostic report (see test/model/).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trackOwners } from '../dist/index.js';
import { KIND_NAMES, loadFixture, type Kind } from './fixture.js';
import { pick, type ModelHandle } from './model/model.js';
import { turn } from './model/oracle.js';
import { runProperty, runsOf, seedOf, type SuiteStats } from './model/run.js';
import type { TimerKind, World } from './model/world.js';

const fx = loadFixture();
const PREFIX = 'prop-node:';
let tmpdir: string;
beforeAll(() => {
  tmpdir = fs.mkdtempSync(path.join(os.tmpdir(), 'uv-drain-prop-node-'));
  // A server on 127.0.0.1 makes its handle after a lookup, on a later tick:
  // only tracking attributes it.
  trackOwners(true);
});
afterAll(() => {
  trackOwners(false);
  fs.rmSync(tmpdir, { recursive: true, force: true });
});

const kind = fc.constantFrom(...(KIND_NAMES as Kind[]));
const owner = fc.nat(2);
const ownerOrNull = fc.option(owner, { nil: null, freq: 4 });
const n = fc.nat(1_000);
const closeMode = fc.constantFrom('sync' as const, 'chain' as const, 'work' as const);

type Step =
  | { t: 'fxCreate'; kind: Kind; owner: number | null; tagLater: boolean }
  | { t: 'fxStart'; h: number }
  | { t: 'fxTag'; h: number; owner: number }
  | { t: 'fxClose'; h: number }
  | { t: 'channel'; owner: number }
  | { t: 'portRef'; p: number; end: number; on: boolean }
  | { t: 'channelClose'; p: number; mode: 'sync' | 'chain' | 'work' }
  | { t: 'server'; owner: number }
  | { t: 'serverRef'; s: number; on: boolean }
  | { t: 'serverClose'; s: number; mode: 'sync' | 'chain' | 'work' }
  | { t: 'timer'; owner: number; kind: TimerKind; unref: boolean }
  | { t: 'clearTimer'; k: number }
  | { t: 'reqBegin' | 'reqEnd'; owner: number }
  | { t: 'work'; owner: number; hold: boolean }
  | { t: 'watch'; owner: number; abortable: boolean }
  | { t: 'abort'; w: number }
  | { t: 'drain'; owner: number }
  | { t: 'tick'; n: number }
  | { t: 'settle' };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ t: fc.constant('fxCreate' as const), kind, owner: ownerOrNull, tagLater: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('fxStart' as const), h: n }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('fxTag' as const), h: n, owner }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('fxClose' as const), h: n }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('channel' as const), owner }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('portRef' as const), p: n, end: fc.nat(1), on: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('channelClose' as const), p: n, mode: closeMode }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('server' as const), owner }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('serverRef' as const), s: n, on: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('serverClose' as const), s: n, mode: closeMode }) },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('timer' as const),
      owner,
      kind: fc.constantFrom('soon' as const, 'long' as const, 'immediate' as const),
      unref: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('clearTimer' as const), k: n }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('reqBegin' as const), owner }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('reqEnd' as const), owner }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('work' as const), owner, hold: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('watch' as const), owner, abortable: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('abort' as const), w: n }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('drain' as const), owner }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('tick' as const), n: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('settle' as const) }) },
);

/** Closes a Node handle at once, from inside a fixture handle's close callback, or from a job's callback. */
function closeNode(w: World, h: ModelHandle, mode: 'sync' | 'chain' | 'work', carrierKind: Kind = 'check'): void {
  if (mode === 'sync') return w.closeAny(h);
  if (mode === 'work') return w.closeFromWork(h);
  // An unowned fixture handle whose close callback closes `h`.
  w.closeChain(w.createFx(carrierKind, null), h);
}

async function apply(w: World, s: Step): Promise<void> {
  const fxh = (f: (h: ModelHandle) => boolean = () => true) => w.model.fixtureHandles(f);
  const livePairs = () => w.pairs.filter((p) => p.handles.some((h) => w.model.isLive(h) && !h.closing));
  const liveServers = () => w.servers.filter((r) => w.model.isLive(r.handle) && !r.handle.closing);
  switch (s.t) {
    case 'fxCreate':
      w.createFx(s.kind, s.owner === null ? null : w.owners[s.owner], s.tagLater);
      return;
    case 'fxStart': {
      const h = pick(fxh((h) => !h.closing), s.h);
      if (h) w.startFx(h);
      return;
    }
    case 'fxTag': {
      const h = pick(fxh(), s.h);
      if (h) w.tagFx(h, w.owners[s.owner]);
      return;
    }
    case 'fxClose': {
      const h = pick(fxh((h) => !h.closing), s.h);
      if (h) w.closeFx(h);
      return;
    }
    case 'channel':
      w.portPair(w.owners[s.owner]);
      return;
    case 'portRef': {
      const p = pick(livePairs(), s.p);
      if (p) w.refPort(p, s.end, s.on);
      return;
    }
    case 'channelClose': {
      const p = pick(livePairs(), s.p);
      if (p) closeNode(w, p.handles[0], s.mode);
      return;
    }
    case 'server':
      await w.server(w.owners[s.owner]);
      return;
    case 'serverRef': {
      const r = pick(liveServers(), s.s);
      if (r) w.refServer(r, s.on);
      return;
    }
    case 'serverClose': {
      const r = pick(liveServers(), s.s);
      if (r) closeNode(w, r.handle, s.mode, 'timer');
      return;
    }
    case 'timer':
      w.timer(w.owners[s.owner], s.kind, s.unref);
      return;
    case 'clearTimer': {
      const t = pick(
        w.timers.filter((t) => !t.done),
        s.k,
      );
      if (t) w.clearTimer(t);
      return;
    }
    case 'reqBegin':
      w.requestBegin(w.owners[s.owner]);
      return;
    case 'reqEnd':
      w.requestEnd(w.owners[s.owner]);
      return;
    case 'work':
      w.work(w.owners[s.owner], s.hold);
      return;
    case 'watch':
      w.drains.watch(w.owners[s.owner], s.abortable);
      return;
    case 'abort': {
      const d = pick(
        w.drains.pending().filter((d) => d.controller !== undefined && !d.aborted),
        s.w,
      );
      if (d) w.drains.abort(d);
      return;
    }
    case 'drain':
      await w.drainOwner(w.owners[s.owner]);
      return;
    case 'tick':
      await turn(w.model, s.n);
      return;
    case 'settle':
      await w.settle();
      return;
  }
}

/**
 * Counterexamples found before, run first on every run of the suite.
 *
 * The last two (fixed in a353a51, kept as regressions): whenDrained(o0) is
 * pending on a JS timer; the timer is cleared; then another whenDrained
 * (same owner, or any other) is called. Its watchOwner() called only the new
 * listener, and updateJsState() saw no JS timer left and turned the
 * watcher's every-iteration callbacks off without notifying the first
 * listener, which then never resolved (src/drain.ts).
 */
const EXAMPLES: Step[][] = [
  // As shrunk by fast-check (this suite's seed): the fixture timer of o1 is
  // retagged to o0, then drain(o1) calls whenDrained(o1) again; the native
  // watcher's recount for the new watch swallows the change, and the first
  // whenDrained(o1) never resolves (native/watcher.cc, see
  // properties.raw.test.ts).
  [
    { t: 'fxCreate', kind: 'timer', owner: 1, tagLater: false },
    { t: 'watch', owner: 1, abortable: false },
    { t: 'fxTag', h: 0, owner: 0 },
    { t: 'drain', owner: 1 },
  ],
  [
    { t: 'timer', owner: 0, kind: 'long', unref: false },
    { t: 'watch', owner: 0, abortable: false },
    { t: 'tick', n: 1 },
    { t: 'clearTimer', k: 0 },
    { t: 'watch', owner: 0, abortable: false },
  ],
  [
    { t: 'timer', owner: 0, kind: 'long', unref: true },
    { t: 'watch', owner: 0, abortable: false },
    { t: 'tick', n: 1 },
    { t: 'clearTimer', k: 0 },
    { t: 'watch', owner: 1, abortable: false },
  ],
];

describe('Node handles (ports, servers, timers) with fixture handles, random lifecycles', () => {
  const stats: SuiteStats = { runs: 0, steps: 0 };
  it('keep per-owner counts exact (model and report), and whenDrained honest and bounded', async () => {
    await runProperty({
      name: 'properties.node',
      fx,
      prefix: PREFIX,
      tmpdir,
      seed: seedOf(0x40de5),
      numRuns: runsOf(250),
      steps: fc.array(step, { minLength: 3, maxLength: 20 }),
      examples: EXAMPLES,
      apply,
      stats,
    });
    expect(stats.runs).toBeGreaterThanOrEqual(runsOf(250));
    // Most checks compared the owner index with a walk (it is rebuilt only after a nested uv_run).
    expect(stats.indexed ?? 0).toBeGreaterThan(stats.steps * 0.9);
  }, 300_000);
});
