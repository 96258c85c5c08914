// The JS work counted for its owner: pending JS timers and immediates, and
// requests in flight (a one-shot request until its callback has run, each
// async write of a zlib stream, an asynchronous crypto job). births.ts hands
// each owned birth here; the `after` hook sees the work end, and tells a
// drain watcher when owner code ran (it may have let go of something libuv
// cannot see).
import { createHook } from 'node:async_hooks';

import { timerOwners, type OwnerRecord } from './owners';
import { onTimerRefChange, tellEnd } from './timers';

/** One-shot requests: in flight from `init` until their callback has run (`after`). */
const ONE_SHOT_REQUESTS = new Set([
  'FSREQCALLBACK',
  'FSREQPROMISE',
  'FILEHANDLECLOSEREQ',
  'GETADDRINFOREQWRAP',
  'GETNAMEINFOREQWRAP',
  'QUERYWRAP',
  'WRITEWRAP',
  'SHUTDOWNWRAP',
  'SENDWRAP',
  'TCPCONNECTWRAP',
  'PIPECONNECTWRAP',
]);

export const TIMER_TYPES = new Set(['Timeout', 'Immediate']);

/** Whether uv-drain counts requests of this async type for their owner. */
export function isCountedRequest(type: string): boolean {
  return ONE_SHOT_REQUESTS.has(type) || type === 'ZLIB' || type.endsWith('REQUEST');
}

interface InFlight {
  owner: OwnerRecord;
  pending: number;
}

const inFlight = new Map<number, InFlight>();
// `after` runs for every callback and every promise reaction: it is off
// until something listens (an owner's request in flight, a drain watcher).
const afterHook = createHook({ after: onAfter });
let afterEnabled = false;
/** Told when work begins or ends or the activity listener changes: births.ts decides its hooks again. */
let changed: () => void = () => {};
let activity: (() => void) | null = null;
let activityQueued = false;

export function onWorkChange(listener: () => void): void {
  changed = listener;
}

/** Whether the async hooks must stay on for this work: a request in flight, or someone listening. */
export function workNeedsHooks(): boolean {
  return inFlight.size > 0 || activity !== null;
}

// Switched on the first time it is needed and off only with the init hook:
// switching hooks reconfigures Node's promise hooks, too dear per request.
export function enableAfterHookIfNeeded(): void {
  if (afterEnabled || !workNeedsHooks()) return;
  afterEnabled = true;
  afterHook.enable();
}

export function disableAfterHook(): void {
  if (!afterEnabled) return;
  afterEnabled = false;
  afterHook.disable();
}

/** The owner whose timer or request `asyncId` is, while pending. */
export function workOwner(asyncId: number): OwnerRecord | undefined {
  return timerOwners.get(asyncId) ?? inFlight.get(asyncId)?.owner;
}

/** Counts a timer or a request born for `owner` (types that are neither are not counted). */
export function countWork(asyncId: number, type: string, resource: unknown, owner: OwnerRecord): void {
  if (TIMER_TYPES.has(type)) {
    // A Timeout refreshed after its end is announced again with a new async id.
    const timer = resource as object;
    const previous = owner.timers.get(timer);
    if (previous !== undefined) timerOwners.delete(previous);
    timerOwners.set(asyncId, owner);
    owner.timers.set(timer, asyncId, tellEnd(timer, (owner.timerEnd ??= timerEndOf(owner))));
  } else if (ONE_SHOT_REQUESTS.has(type)) {
    beginRequest(asyncId, owner);
  } else if (type.endsWith('REQUEST')) {
    countCryptoJob(asyncId, owner, resource as { run?: (...args: unknown[]) => unknown });
  } else if (type === 'ZLIB') {
    countZlibWrites(asyncId, owner, resource as { write?: (...args: unknown[]) => unknown });
  }
}

/**
 * Calls `listener` (in a microtask) after a callback of an owner's timer or
 * request has run, or an owner's timer ended; null stops. Costs nothing per
 * pending timer: every owned timer tells its end from its birth on.
 */
export function setActivityListener(listener: (() => void) | null): void {
  activity = listener;
  changed();
}

// A timer can end with no callback of its owner: clearTimeout,
// clearInterval, clearImmediate, timeout.close(), an aborted
// timers/promises wait — each from anyone's code. Every owned timer tells its
// end at once (timers.ts tellEnd: an accessor on the `_destroyed` field of
// Node's timer prototypes), so its owner's pending set stays exact with no
// walk, and a drain watcher learns of the end without looking at every loop
// iteration.
// An owned timer unref'd after a watch started may leave the owner's timers
// holding the loop no more: the watcher must hear of it, or it would keep
// holding a loop that nothing else holds.
onTimerRefChange(() => {
  if (activity !== null) queueActivity();
});

function timerEndOf(owner: OwnerRecord): (timer: object) => void {
  return function timerEnd(timer: object): void {
    if (owner.timers.ended(timer) && activity !== null) queueActivity();
  };
}

function onAfter(asyncId: number): void {
  // Only owners' own callbacks count as activity: reacting to every
  // `after` would feed on itself (the reaction runs in a microtask, which
  // has an `after` of its own).
  if (activity !== null && (timerOwners.has(asyncId) || inFlight.has(asyncId))) queueActivity();
  const entry = inFlight.get(asyncId);
  if (entry === undefined) return;
  entry.pending--;
  entry.owner.requests--;
  if (entry.pending === 0) inFlight.delete(asyncId);
  changed();
}

function queueActivity(): void {
  if (activityQueued) return;
  activityQueued = true;
  queueMicrotask(() => {
    activityQueued = false;
    activity?.();
  });
}

function beginRequest(asyncId: number, owner: OwnerRecord): void {
  const entry = inFlight.get(asyncId);
  if (entry === undefined) inFlight.set(asyncId, { owner, pending: 1 });
  else entry.pending++;
  owner.requests++;
  if (!afterEnabled) changed();
}

// A zlib stream is one async resource for its whole life; each async write
// is one unit of thread-pool work that ends with a callback (`after`).
function countZlibWrites(asyncId: number, owner: OwnerRecord, handle: { write?: (...args: unknown[]) => unknown }): void {
  const write = handle.write;
  if (typeof write !== 'function') return;
  handle.write = function countedWrite(this: unknown, ...args: unknown[]) {
    beginRequest(asyncId, owner);
    changed(); // made outside `init`: the hooks may be off
    return write.apply(this, args);
  };
}

// A crypto job is made the same way for fooSync() and foo(cb): only run()
// tells them apart — it returns the result of a synchronous job and nothing
// for an asynchronous one, which then ends with its callback (`after`).
function countCryptoJob(asyncId: number, owner: OwnerRecord, job: { run?: (...args: unknown[]) => unknown }): void {
  const run = job.run;
  if (typeof run !== 'function') {
    beginRequest(asyncId, owner);
    return;
  }
  job.run = function countedRun(this: unknown, ...args: unknown[]) {
    const result = run.apply(this, args);
    if (result === undefined) {
      beginRequest(asyncId, owner);
      changed(); // run outside `init`: the hooks may be off
    }
    return result;
  };
}
