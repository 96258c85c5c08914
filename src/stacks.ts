// Creation stacks: where each live handle and each JS timer was made.
//
// The birth observer (births.ts) sees every async resource born. A handle
// birth gets a sequence number that the addon later reports with the uv
// handle it matched (binding.takeMatches(): rows of records.ts MATCH),
// so a stack captured at birth can be filed under the handle's address. JS
// timers have no uv handle of their own (they share Node's one timer): their
// stack is kept by resource.
//
// Stacks are captured as Error objects and formatted only when read: V8
// keeps the raw frames, and formatting (plus the source maps a test runner
// may apply) costs far more than capturing.
import { setBirthObserver, type Birth } from './births';
import { binding } from './native';
import { keyAt, keysOf, MATCH } from './records';
import { currentScope, poolAtBirth, watchPools, type Scope } from './scopes';
import { plainStack } from './stack-text';

/** What is known about one handle's or JS timer's birth. */
export interface Capture {
  /** async_hooks type: 'TCPSERVERWRAP', 'Timeout'... */
  readonly asyncType: string;
  readonly asyncId: number;
  readonly triggerAsyncId: number;
  /** The owner current at birth, or null. */
  readonly owner: string | null;
  /** Birth order among observed births: later births have larger epochs. */
  readonly epoch: number;
  /** Raw frames, formatted lazily by stackOf(); null for immediates (not captured). */
  readonly error: Error | null;
  /** The call of module code that Node was continuing at birth (a lookup's callback), if any. */
  readonly origin: Error | null;
  /** Known at birth to be made by Node's shared machinery (a global agent's socket). */
  readonly shared: boolean;
  /** Handles: Node's wrap of the handle, held weakly (addresses, a pid: what the resource is). */
  readonly wrap?: WeakRef<object>;
  /**
   * The check scope it was born in (scopes.ts): its pool's for a socket a
   * pool opened, else the async context's, else its trigger's (a connection
   * is born outside any context, its server is its trigger); null when none.
   */
  readonly scope: Scope | null;
  /** The epoch of what it belongs to: its pool's creation for a pooled socket, else its own. */
  readonly madeEpoch: number;
  /** The capture of the resource that triggered this birth, if observed (a server, a DNS lookup). */
  readonly trigger: Capture | undefined;
  /** A MessagePort born while a Worker was being made: that Worker's handle object, held weakly. */
  readonly worker?: WeakRef<{ threadId?: unknown }>;
}

/** Frames kept at capture: enough to get past Node's and a library's frames into the caller's. */
const CAPTURE_FRAMES = 40;
/** For timers (made far more often, and by shallower calls). */
const TIMER_FRAMES = 24;
/** Housekeeping (matching and pruning) runs after this many handle births. */
const PRUNE_EVERY = 512;

let users = 0;
let epoch = 0;
/** Handle births waiting for their uv handle: seq -> capture (and the prune round it was seen in). */
const pendingBySeq = new Map<number, { capture: Capture; round: number }>();
/** Live handles by address key (hi * 2^32 + lo). */
const byAddress = new Map<number, Capture>();
/** Handle captures by async id, for births with no frames of their own (an accepted connection). */
const byAsyncId = new Map<number, Capture>();
/** DNS lookups by async id, kept a prune round or two: only as triggers of what their callbacks make. */
const lookups = new Map<number, { capture: Capture; round: number }>();
// A timer's capture lives on the timer itself: a WeakMap entry per timer
// costs the garbage collector far more (ephemerons) in timer-heavy code.
const CAPTURE = Symbol('uv-drain:capture');
type TimerCaptured = { [CAPTURE]?: Capture };
const timerListeners = new Set<(timer: object, capture: Capture) => void>();
/** Captures of the pooled client sockets of shared pools (forgotten once their wrap is gone); provenance.ts reads them. */
export const sharedSockets = new Set<Capture>();
let round = 0;
let birthsSincePrune = 0;
/** The Worker being constructed (until the current microtask checkpoint). */
let makingWorker: WeakRef<object> | null = null;

/**
 * Turns creation tracking on (counted: each caller calls the returned
 * function once to let go). While on, every handle and JS timer born gets
 * its creation stack.
 */
export function retainStacks(): () => void {
  if (users++ === 0) {
    watchPools(nextEpoch);
    setBirthObserver(observe);
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--users === 0) {
      setBirthObserver(null);
      pendingBySeq.clear();
      byAsyncId.clear();
      lookups.clear();
      byAddress.clear();
      sharedSockets.clear();
    }
  };
}

export function stacksOn(): boolean {
  return users > 0;
}

/** The epoch the next observed birth will get. */
export function nextEpoch(): number {
  return epoch;
}

/** Calls `listener` for every JS timer or immediate born while stacks are on; returns an unsubscribe function. */
export function onTimerBirth(listener: (timer: object, capture: Capture) => void): () => void {
  timerListeners.add(listener);
  return () => timerListeners.delete(listener);
}

function observe(birth: Birth): void {
  const type = birth.type;
  if (type === 'Immediate') {
    // An immediate runs in the next loop iteration: only an endless chain
    // outlives a test, and its latest birth's stack is inside the chain
    // itself. Its birth is announced (leak checks track it), without a stack:
    // immediate-heavy code would pay a stack capture per callback.
    const timer = birth.resource as TimerCaptured;
    if (timer[CAPTURE] !== undefined) return;
    const capture = makeCapture(birth, null);
    timer[CAPTURE] = capture;
    for (const listener of timerListeners) listener(timer, capture);
    return;
  }
  const isTimeout = type === 'Timeout';
  if (type === 'WORKER') {
    // Its ports are born next, in the same synchronous constructor.
    makingWorker = new WeakRef(birth.resource as object);
    queueMicrotask(() => (makingWorker = null));
    return;
  }
  if (type === 'GETADDRINFOREQWRAP') {
    // Kept only as the trigger of what is born in its callback.
    const capture = makeCapture(birth, captureStack());
    settleLater(capture, undefined);
    lookups.set(birth.asyncId, { capture, round });
    if (++birthsSincePrune >= PRUNE_EVERY) queueMicrotask(prune);
    return;
  }
  if (birth.handleSeq < 0 && !isTimeout) return; // other requests
  if (isTimeout) {
    // A refreshed Timeout is announced again: it keeps its first birth.
    const timer = birth.resource as TimerCaptured;
    if (timer[CAPTURE] !== undefined) return;
    const capture = makeCapture(birth, stackUnlessShared(birth, TIMER_FRAMES));
    timer[CAPTURE] = capture;
    settleLater(capture, timer);
    for (const listener of timerListeners) listener(timer, capture);
    return;
  }
  const capture = makeCapture(birth, stackUnlessShared(birth));
  settleLater(capture, undefined);
  if (type === 'MESSAGEPORT' && makingWorker !== null) (capture as { worker?: WeakRef<object> }).worker = makingWorker;
  if (typeof birth.resource === 'object' && birth.resource !== null) {
    (capture as { wrap?: WeakRef<object> }).wrap = new WeakRef(birth.resource);
    if (capture.shared && birth.type === 'TCPWRAP') sharedSockets.add(capture);
  }
  pendingBySeq.set(birth.handleSeq, { capture, round });
  byAsyncId.set(birth.asyncId, capture);
  if (++birthsSincePrune >= PRUNE_EVERY) queueMicrotask(prune);
}

// An Error keeps V8's raw frames — each frame's function and receiver, and
// through them whatever the test's closures hold — until its stack is first
// formatted. A capture that outlives the code that made it must not keep the
// test's objects from being collected (a keep-alive socket's timer would keep
// the response, its request and their AbortController): its stack is
// formatted once the current macrotask's synchronous code is done. Timers
// already cleared or run by then (the common case in timer-heavy code) are
// skipped, and most of the formatting cost with them. It is formatted the way
// V8 does by itself (plainStack): a test runner's source-map support
// (Vite's Error.prepareStackTrace) is applied only to a stack a report
// shows (mapStack).
let unsettled: { capture: Capture; timer: TimerCaptured | undefined }[] = [];
function settleLater(capture: Capture, timer: TimerCaptured | undefined): void {
  if (unsettled.push({ capture, timer }) === 1) queueMicrotask(settle);
}

function settle(): void {
  const batch = unsettled;
  unsettled = [];
  for (const { capture, timer } of batch) {
    if ((timer as { _destroyed?: boolean } | undefined)?._destroyed === true) continue;
    if (capture.error !== null) plainStack(capture.error);
    if (capture.origin !== null) plainStack(capture.origin);
  }
}

/** What the process's shared machinery makes is never reported: no stack to pay for. */
function stackUnlessShared(birth: Birth, frames = CAPTURE_FRAMES): Error | null {
  return birth.shared || poolAtBirth()?.shared === true ? null : captureStack(frames);
}

function captureStack(frames = CAPTURE_FRAMES): Error {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = frames;
  const error = new Error('created');
  Error.stackTraceLimit = limit;
  return error;
}

function makeCapture(birth: Birth, error: Error | null): Capture {
  const trigger = byAsyncId.get(birth.triggerAsyncId) ?? lookups.get(birth.triggerAsyncId)?.capture;
  const pool = poolAtBirth();
  const own = epoch++;
  return {
    asyncType: birth.type,
    asyncId: birth.asyncId,
    triggerAsyncId: birth.triggerAsyncId,
    owner: birth.owner,
    epoch: own,
    error,
    origin: birth.origin,
    shared: birth.shared || pool?.shared === true,
    scope: pool !== null ? pool.scope : (currentScope() ?? trigger?.scope ?? null),
    madeEpoch: pool !== null ? pool.epoch : own,
    trigger,
  };
}

/** Files the matched handle births under their addresses. */
export function takeMatches(): void {
  if (users === 0) return;
  const matches = binding.takeMatches();
  for (let r = 0; r < matches.length; r += MATCH.fields) {
    const seq = matches[r + MATCH.seq]!;
    const entry = pendingBySeq.get(seq);
    if (entry === undefined) continue;
    pendingBySeq.delete(seq);
    byAddress.set(keyAt(matches, r, MATCH), entry.capture);
  }
}

// Matches, then forgets what cannot matter any more: births never matched
// (the addon drops them once every announced handle exists; two rounds is
// past that) and handles no longer on the loop.
function prune(): void {
  if (birthsSincePrune < PRUNE_EVERY || users === 0) return;
  birthsSincePrune = 0;
  takeMatches();
  for (const [seq, entry] of pendingBySeq) if (entry.round < round) pendingBySeq.delete(seq);
  for (const [asyncId, entry] of lookups) if (entry.round < round) lookups.delete(asyncId);
  round++;
  const live = keysOf(binding.snapshot(false).records);
  for (const key of byAddress.keys()) if (!live.has(key)) byAddress.delete(key);
  const kept = new Set<Capture>(byAddress.values());
  for (const entry of pendingBySeq.values()) kept.add(entry.capture);
  for (const [asyncId, capture] of byAsyncId) if (!kept.has(capture)) byAsyncId.delete(asyncId);
}

/** The birth of the live handle at address key `key`, if it was observed. */
export function handleCapture(key: number): Capture | undefined {
  return byAddress.get(key);
}

/** The birth of a JS timer or immediate, if it was observed. */
export function timerCapture(timer: object): Capture | undefined {
  return (timer as TimerCaptured)[CAPTURE];
}

/** The captures of live handles filed under their addresses. */
export function liveHandleCaptures(): IterableIterator<Capture> {
  return byAddress.values();
}
