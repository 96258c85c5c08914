// Exact drain detection: an owner is drained when it has no live handle
// (closing ones included), no in-flight request and no pending JS timer.
// The native watcher (native/watcher.cc) recounts at every loop iteration
// while something is watched and calls back when an owner's counts change;
// JS activity (a timer fired, a JS request completed) triggers a recount too.
import { countsFor, countsOfWatched, type OwnerCounts } from './accounting';
import { now } from './clock';
import { UvDrainError, DrainTimeoutError } from './errors';
import { binding } from './native';
import { deadline, type Deadline } from './deadline';
import { setActivityListener } from './owned-work';
import { hasRefTimer, jsRequests, ownerRecord, pendingTimers } from './owners';
import { checkObject, checkOwner, checkSignal, checkTimeout } from './validate';

export interface DrainOptions {
  /** Give up after this many milliseconds (default: wait forever). */
  timeoutMs?: number;
  /** Abort the wait. */
  signal?: AbortSignal;
}

export interface DrainResult {
  owner: string;
  /** Loop iterations (prepare callbacks) between the call and the drain being seen. */
  iterations: number;
  durationMs: number;
}

/**
 * Called with the owner's counts whenever they may have changed; return true
 * to stop watching. `atPrepare`: called from the watcher's prepare callback,
 * at the start of a loop iteration's poll — a point where every callback of
 * the previous phases and their microtasks have run.
 */
export type OwnerListener = (counts: OwnerCounts, iteration: number, atPrepare: boolean) => boolean | void;

export interface WatchOptions {
  /** While this returns true, the listener is called at every loop iteration (from the prepare callback). */
  everyIteration?: () => boolean;
  /** Keep the loop alive while watching (an unload in progress must not let the process end under it). */
  holdLoop?: boolean;
}

interface Watch extends WatchOptions {
  owner: string;
  listener: OwnerListener;
}

const watches = new Map<string, Set<Watch>>();

export function isDrained(c: OwnerCounts): boolean {
  return c.total === 0 && c.requests === 0 && c.timers === 0;
}

/**
 * Calls `listener` now and then whenever `owner`'s accounting may have
 * changed, until it returns true or the returned function is called.
 */
export function watchOwner(owner: string, listener: OwnerListener, options: WatchOptions = {}): () => void {
  const watch: Watch = { owner, listener, ...options };
  let set = watches.get(owner);
  if (set === undefined) {
    set = new Set();
    watches.set(owner, set);
    binding.watch(ownerRecord(owner).id);
  }
  set.add(watch);
  const stop = () => remove(watch);
  if (listener(countsFor(owner), binding.watchIteration(), false) === true) stop();
  else updateJsState();
  return stop;
}

function remove(watch: Watch): void {
  const set = watches.get(watch.owner);
  if (set === undefined || !set.delete(watch)) return;
  if (set.size === 0) {
    watches.delete(watch.owner);
    binding.unwatch(ownerRecord(watch.owner).id);
  }
  updateJsState();
}

// Every caller has just had the watcher recount, so the first owner's counts
// come from that recount, not another walk; the others are counted afresh
// (the first owner's listeners may have run module code meanwhile).
function notifyAll(iteration: number, atPrepare = false): void {
  let recounted = true;
  for (const [owner, set] of [...watches]) {
    const counts = recounted ? countsOfWatched(owner) : countsFor(owner);
    recounted = false;
    for (const watch of [...set]) {
      let done: boolean | void;
      try {
        done = watch.listener(counts, iteration, atPrepare);
      } catch (error) {
        remove(watch);
        queueMicrotask(() => {
          throw error;
        });
        continue;
      }
      if (done === true) remove(watch);
    }
  }
  updateJsState();
}

binding.setWatchCallback((iteration: number) => notifyAll(iteration, true));

// JS timers and requests are invisible to libuv: while a watched owner has
// some, their ends (a callback run, a timer cleared) trigger a recount, and
// the watcher holds the loop if they would hold it anyway.
export function updateJsState(): void {
  let jsPending = false;
  let holds = false;
  let everyIteration = false;
  for (const [owner, set] of watches) {
    const record = ownerRecord(owner);
    const requests = jsRequests(record);
    const timers = pendingTimers(record);
    if (requests > 0 || timers > 0) jsPending = true;
    // A timer whose end cannot be told (owned-work.ts) is looked at every iteration.
    if (timers > 0 && !record.timers.exact) everyIteration = true;
    if (requests > 0 || hasRefTimer(record)) holds = true;
    for (const watch of set) {
      if (watch.holdLoop === true) holds = true;
      if (watch.everyIteration?.() === true) everyIteration = true;
    }
  }
  // The native watcher calls back when native counts change, and at every
  // iteration only when a watch asks (or a timer's end cannot be told); JS
  // timers and requests tell JS themselves when they end (owned-work.ts:
  // `after`, a timer's end).
  const callBack = everyIteration;
  if (callBack !== sentState.callBack || holds !== sentState.holds) {
    sentState.callBack = callBack;
    sentState.holds = holds;
    binding.setWatchJsState(callBack, holds);
  }
  if (jsPending !== lastJsPending) setActivityListener(jsPending ? onActivity : null);
  // The last JS timer or request went away without a callback of the owner
  // (cleared by other code): the native watcher stops calling back every
  // iteration, so tell the watchers now or they would never hear of it.
  if (lastJsPending && !jsPending && watches.size > 0 && !notifyQueued) {
    notifyQueued = true;
    queueMicrotask(() => {
      notifyQueued = false;
      binding.watchRecount();
      notifyAll(binding.watchIteration());
    });
  }
  lastJsPending = jsPending;
}

let lastJsPending = false;
let notifyQueued = false;
/** What the native watcher was last told (it starts with neither). */
const sentState = { callBack: false, holds: false };

function onActivity(): void {
  binding.watchRecount();
  notifyAll(binding.watchIteration());
}

/**
 * Resolves once `owner` has no live handle (closing ones included), no
 * in-flight request and no pending JS timer — noticed in the first loop
 * iteration after its last close callback. Never keeps the process alive by
 * itself, beyond holding the loop until the owner's closing handles are gone.
 */
export function whenDrained(owner: string, options: DrainOptions = {}): Promise<DrainResult> {
  let timeoutMs: number;
  try {
    checkOwner(owner);
    checkObject(options, 'options');
    timeoutMs = options.timeoutMs === undefined ? Infinity : checkTimeout(options.timeoutMs, 'timeoutMs');
    if (options.signal !== undefined) checkSignal(options.signal, 'signal');
  } catch (error) {
    return Promise.reject(error);
  }
  const signal = options.signal;
  if (signal?.aborted) return Promise.reject(abortError(signal));

  return new Promise<DrainResult>((resolve, reject) => {
    const started = now();
    const firstIteration = binding.watchIteration();
    let expiry: Deadline | undefined;
    let stop: (() => void) | undefined;
    let settled = false;
    const finish = (error: unknown, result?: DrainResult) => {
      if (settled) return;
      settled = true;
      expiry?.cancel();
      signal?.removeEventListener('abort', onAbort);
      stop?.();
      if (error !== undefined) reject(error);
      else resolve(result!);
    };
    const onAbort = () => finish(abortError(signal!));
    stop = watchOwner(owner, (counts, iteration) => {
      if (!isDrained(counts)) return false;
      finish(undefined, {
        owner,
        iterations: iteration - firstIteration,
        durationMs: now() - started,
      });
      return true;
    });
    if (settled) {
      stop();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    expiry = deadline(timeoutMs, () => finish(new DrainTimeoutError(owner, countsFor(owner))));
  });
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new UvDrainError('ABORT_ERR', 'The operation was aborted');
}
