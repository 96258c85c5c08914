// The JS work counted for its owner: pending JS timers and immediates, and
// requests in flight (a one-shot request until its callback has run, each
// async write of a zlib stream, an asynchronous crypto job). births.ts hands
// each owned birth here; the `after` hook sees the work end, and tells a
// drain watcher when owner code ran (it may have let go of something libuv
// cannot see).
import { createHook } from 'node:async_hooks';

import { knownOwners, timerOwners, type OwnerRecord } from './owners';

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
    // A refreshed Timeout is announced again with a new async id.
    const previous = owner.timers.get(resource as object);
    if (previous !== undefined) timerOwners.delete(previous);
    timerOwners.set(asyncId, owner);
    owner.timers.set(resource as object, asyncId);
    if (activity !== null) watchEnd(resource as TimerEnd, owner);
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
 * request has run; null stops.
 */
export function setActivityListener(listener: (() => void) | null): void {
  activity = listener;
  if (listener !== null) {
    for (const owner of knownOwners()) for (const [timer] of owner.timers.entries()) watchEnd(timer as TimerEnd, owner);
  }
  changed();
}

// A timer can end with no callback of its owner: clearTimeout,
// clearInterval, clearImmediate, timeout.close(), an aborted
// timers/promises wait — each from anyone's code. Node marks every end by
// setting the timer's `_destroyed` to true (and a refresh sets it back to
// false). An accessor in place of that field tells a listener at once, so the
// drain watcher need not look at every loop iteration while an owner has
// timers. Installed only while someone listens, on owned timers only.
const END_WATCHED = Symbol('uv-drain:end-watched');
type TimerEnd = { _destroyed?: boolean; [END_WATCHED]?: true };

function watchEnd(timer: TimerEnd, owner: OwnerRecord): void {
  // A refreshed timer is counted again: its end is told again.
  if (timer[END_WATCHED] !== true) {
    timer[END_WATCHED] = true;
    let destroyed = timer._destroyed;
    Object.defineProperty(timer, '_destroyed', {
      configurable: true,
      enumerable: true,
      get: () => destroyed,
      set(value: boolean) {
        destroyed = value;
        if (value !== true) return;
        owner.timers.ended(timer);
        if (activity !== null) queueActivity();
      },
    });
  }
  if (timer._destroyed !== true) owner.timers.tellsEnd(timer);
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
