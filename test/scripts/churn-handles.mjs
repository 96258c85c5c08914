// Churn and memory, part 1 (run by test/churn.test.ts in a child process):
//   node --expose-gc test/scripts/churn-handles.mjs [handles=1000000] [batch=10000] [timers=200000]
//
// 1. Handle churn: `handles` raw libuv handles (the native fixture's timer,
//    idle, prepare, check and async handles — the cheapest real handles)
//    born, tagged through uv-drain's C API (8 owners, round robin), half of
//    them started, then closed, batch by batch; each batch waits until the
//    close callbacks have run (whenDrained on every owner: the native drain
//    watcher comes and goes once per batch).
// 2. JS timer churn: `timers` setTimeout(0) born as one owner's (withOwner),
//    all fired, measured before any query of that owner's counts and after.
//
// Prints one JSON line: RSS / heap / external before and after (after gc),
// the peak RSS, the owner counts and the size of the native owner table.
// Exits non-zero only if something is plainly broken (a count is wrong).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const DIST = fileURLToPath(new URL('../../dist/index.js', import.meta.url));
const NATIVE = fileURLToPath(new URL('../../dist/native.js', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../fixtures/build/Release/uv_drain_fixture.node', import.meta.url));
const uv = require(DIST);
const { binding } = require(NATIVE);
const fx = require(FIXTURE);
fx.setApi(uv.capi);

if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc');

const HANDLES = Number(process.argv[2] ?? 1_000_000);
const BATCH = Number(process.argv[3] ?? 10_000);
const TIMERS = Number(process.argv[4] ?? 200_000);
const KINDS = ['timer', 'idle', 'prepare', 'check', 'async'];
const OWNERS = Array.from({ length: 8 }, (_, i) => `churn-${i}`);

const MB = 1024 * 1024;
function settle() {
  for (let i = 0; i < 4; i++) globalThis.gc();
}
function memory() {
  settle();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
}
const toMB = (m) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, +(v / MB).toFixed(2)]));

/**
 * Size of the native owner table of this thread's loop (index 0 is "no
 * owner"). There is no public API for it: binding.ownerName(index) answers
 * '' past the end of the table, so count the indices that have a name.
 */
function nativeOwnerTable() {
  let n = 1;
  while (binding.ownerName(n) !== '') n++;
  return n - 1;
}

const ids = OWNERS.map((name) => {
  const { rc, id } = fx.owner('main', name);
  if (rc !== 0) throw new Error(`owner(${name}) returned ${rc}`);
  return id;
});

function fail(message) {
  console.error(message);
  process.exit(2);
}

let peakRss = 0;
let born = 0;
async function churn(count) {
  for (let done = 0; done < count; ) {
    const n = Math.min(BATCH, count - done);
    const handles = new Array(n);
    for (let i = 0; i < n; i++) {
      const kind = KINDS[(born + i) % KINDS.length];
      const id = fx.create(kind, ids[(born + i) % ids.length]);
      if (kind !== 'async' && (born + i) % 2 === 0 && fx.start(id) !== 0) fail(`start(${kind}) failed`);
      handles[i] = id;
    }
    if (done === 0) {
      // Per-owner counts are exact while they are all alive.
      const total = OWNERS.reduce((sum, name) => sum + uv.countsFor(name).total, 0);
      if (total !== n) fail(`owners count ${total} handles, ${n} are alive`);
    }
    for (const id of handles) if (fx.close(id) !== 0) fail(`close(${id}) failed`);
    const closing = uv.countsFor(OWNERS[0]).closing;
    if (closing !== uv.countsFor(OWNERS[0]).total || closing === 0) fail(`closing count ${closing} is off`);
    // Wait for the close callbacks through uv-drain's own drain watcher.
    await Promise.all(OWNERS.map((name) => uv.whenDrained(name, { timeoutMs: 60_000 })));
    if (fx.pending() !== 0) fail(`fixture still has ${fx.pending()} handles after the drain`);
    born += n;
    done += n;
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }
}

const startHandles = uv.stats().handles;
const startIds = new Set(uv.snapshot().map((h) => h.id));
const startedAt = performance.now();

// Warm-up: first allocations of every kind, code paths compiled.
await churn(Math.min(50_000, HANDLES));
const before = memory();
const tableBefore = nativeOwnerTable();
const handleChurnStart = performance.now();
await churn(HANDLES);
const handleChurnMs = performance.now() - handleChurnStart;
const after = memory();
const tableAfter = nativeOwnerTable();
const byOwnerAfter = uv.countsByOwner();

// JS timers: libuv cannot see them, uv-drain keeps per-owner books.
const timersBefore = memory();
for (let done = 0; done < TIMERS; ) {
  const n = Math.min(BATCH, TIMERS - done);
  await new Promise((resolve) => {
    let left = n;
    for (let i = 0; i < n; i++) uv.withOwner('churn-timers', () => setTimeout(() => --left === 0 && resolve(), 0));
  });
  done += n;
}
const timersFired = memory();
const timerCounts = uv.countsFor('churn-timers');
const timersQueried = memory();

// Close callbacks still due (Node's own platform timers come and go
// meanwhile, slower under sanitizers) run within an iteration or two.
for (let i = 0; i < 10 && uv.stats().closing > 0; i++) await new Promise(setImmediate);

const report = {
  handles: { born, batch: BATCH, kinds: KINDS, owners: OWNERS.length, ms: Math.round(handleChurnMs) },
  before: toMB(before),
  after: toMB(after),
  growthMB: toMB({ rss: after.rss - before.rss, heapUsed: after.heapUsed - before.heapUsed, external: after.external - before.external }),
  peakRssMB: +(peakRss / MB).toFixed(2),
  loopHandles: {
    start: startHandles,
    end: uv.stats().handles,
    closing: uv.stats().closing,
    // Handles born during the run and still alive (Node's own lazily made ones show here).
    new: uv.snapshot().filter((h) => !startIds.has(h.id)).map(({ type, active, ref, owner }) => ({ type, active, ref, owner })),
  },
  ownerTable: { before: tableBefore, after: tableAfter },
  countsByOwnerAfter: byOwnerAfter,
  timers: {
    count: TIMERS,
    heapBeforeMB: +(timersBefore.heapUsed / MB).toFixed(2),
    heapAfterFiredMB: +(timersFired.heapUsed / MB).toFixed(2),
    heapAfterQueryMB: +(timersQueried.heapUsed / MB).toFixed(2),
    rssAfterFiredMB: +(timersFired.rss / MB).toFixed(2),
    countsAfter: timerCounts,
  },
  ownerTableEnd: nativeOwnerTable(),
  totalMs: Math.round(performance.now() - startedAt),
};
console.log(JSON.stringify(report));
