// Leak checks: which handles and JS timers born since begin() are still
// alive at end(). Framework-neutral; uv-drain/vitest runs one around every test.
// This file is the API (options, begin, the wait of end()); the diff is
// leak-find.ts, the built-in rules leak-rules.ts, the text leak-format.ts.
import { findLeaks, refTimerCounts, WAITING, type Found } from './leak-find';
import type { HandleInfo } from './accounting';
import { UvDrainError } from './errors';
import { binding } from './native';
import { withoutOwner } from './birth-state';
import { nextEpoch, onTimerBirth, retainStacks, takeMatches, type Capture } from './stacks';
import { guardStdio } from './stdio';
import { keysOf } from './records';
import { PendingTimers } from './timers';
import { runInScope, type Scope } from './scopes';
import { checkBoolean, checkFunction, checkObject, describe } from './validate';
import { nextTick, now, setImmediate, setTimeout } from './clock';

export interface LeakCheckOptions {
  /**
   * How long end() waits, at most, for handles and timers born since begin()
   * to go away (a socket that finishes closing after the test returned) — after a
   * few loop iterations, which it always allows. Milliseconds, default 500.
   */
  graceMs?: number;
  /**
   * Creation tracking: a stack per leaked handle and timer, and exact JS timers
   * (unref'd ones included). Uses async_hooks while on (slower promises on Node 20).
   * Default false: timers are then counted, not identified (referenced ones only).
   */
  tracking?: boolean;
  /** Never report these types: uv types ('tcp', 'pipe'...) or 'Timeout' / 'Immediate'. */
  ignoreTypes?: readonly string[];
  /** Never report handles whose module (the shared object they call back into) is one of these (path or RegExp). */
  ignoreModules?: readonly (string | RegExp)[];
  /** Never report a leak for which this returns true. */
  ignore?: (leak: Leak) => boolean;
  /**
   * Report only what was made inside this check's run() calls — in `fn`,
   * its async continuations, and callbacks of what it made — instead of
   * everything born since begin(). Concurrent checks then each see their
   * own. Handles whose birth uv-drain did not see (native code with no
   * async resource) are still reported by time. Needs tracking (default
   * true with this option). Default false.
   */
  context?: boolean;
}

/** A handle born since begin() and still on the loop at end(). */
export interface LeakedHandle extends HandleInfo {
  kind: 'handle';
  /** What it is, as Node names it (`TCP server 127.0.0.1:3000`, `child process pid 4242`...), when known (tracking on). */
  resource: string | null;
  /** Creation stack trimmed to user frames (tracking on), else null. */
  stack: string | null;
}

/** A JS timer or immediate born since begin() and still pending at end(). */
export interface LeakedTimer {
  kind: 'timer';
  /** 'timeout:<asyncId>' (tracking on), or 'timeout:?' when only counted. */
  id: string;
  type: 'Timeout' | 'Immediate';
  /** Pending timers are active. */
  active: true;
  /** Whether it keeps the process alive (`hasRef()`). */
  ref: boolean;
  closing: false;
  fd: null;
  owner: string | null;
  /** JS timers call back into JavaScript: no shared object. */
  module: null;
  /** The interval of a setInterval timer, else null. */
  repeatMs: number | null;
  /** The timer's delay, or null for an immediate (or when only counted). */
  delayMs: number | null;
  /** The callback's name, if it has one. */
  callback: string | null;
  stack: string | null;
}

export type Leak = LeakedHandle | LeakedTimer;

export interface LeakReport {
  /** True when nothing leaked. */
  ok: boolean;
  /** What is still alive, handles in loop order then timers. */
  leaks: Leak[];
  /** Leaks left out by an ignore option or a built-in rule (Node's stdio, Node's internal timers and DNS sockets). */
  ignored: number;
  /** Time end() waited for things to go away. */
  waitedMs: number;
  /** Loop iterations end() waited. */
  iterations: number;
  tracking: boolean;
}

export interface LeakCheck {
  /** Remembers what is alive now: nothing alive now is ever reported. */
  begin(): void;
  /** Waits (bounded) for what was born since begin() to go away and reports what did not. */
  end(): Promise<LeakReport>;
  /** Forgets begin() without checking (a test that opted out). */
  cancel(): void;
  /**
   * Runs `fn` in this check's async context and returns what it returns:
   * with `context: true`, what it makes is what end() looks at.
   */
  run<T>(fn: () => T): T;
}

const DEFAULT_GRACE_MS = 500;
const MAX_MS = 2 ** 31 - 1;
/** Loop iterations end() always allows before it starts sleeping. */
const FEW_ITERATIONS = 3;
const MAX_SLEEP_MS = 16;
const PRUNE_TIMERS_AT = 1024;

export interface Resolved {
  graceMs: number;
  tracking: boolean;
  context: boolean;
  ignoreTypes: Set<string>;
  ignoreModules: (string | RegExp)[];
  ignore: ((leak: Leak) => boolean) | undefined;
}

// Options are checked like every other uv-drain option: `undefined` means
// the default, anything else (null included) must have the right type.
function resolveOptions(options: LeakCheckOptions): Resolved {
  checkObject(options, 'options');
  let graceMs = DEFAULT_GRACE_MS;
  if (options.graceMs !== undefined) {
    graceMs = options.graceMs;
    if (typeof graceMs !== 'number') {
      throw new TypeError(`The "graceMs" option must be a number, received ${describe(graceMs)}`);
    }
    if (!(graceMs >= 0 && graceMs <= MAX_MS)) {
      throw new RangeError(`The "graceMs" option must be a number of milliseconds from 0 to ${MAX_MS}, received ${graceMs}`);
    }
  }
  if (options.context !== undefined) checkBoolean(options.context, 'context');
  const context = options.context ?? false;
  if (options.tracking !== undefined) checkBoolean(options.tracking, 'tracking');
  if (context && options.tracking === false) {
    throw new RangeError('The "context" option needs tracking: it cannot be used with "tracking: false"');
  }
  const tracking = options.tracking ?? context;
  const ignoreTypes = options.ignoreTypes ?? [];
  if (
    options.ignoreTypes !== undefined &&
    (!Array.isArray(options.ignoreTypes) || options.ignoreTypes.some((t) => typeof t !== 'string'))
  ) {
    throw new TypeError(`The "ignoreTypes" option must be an array of strings, received ${describe(options.ignoreTypes)}`);
  }
  const ignoreModules = options.ignoreModules ?? [];
  if (
    options.ignoreModules !== undefined &&
    (!Array.isArray(options.ignoreModules) ||
      options.ignoreModules.some((m) => typeof m !== 'string' && !(m instanceof RegExp)))
  ) {
    throw new TypeError(
      `The "ignoreModules" option must be an array of strings and RegExps, received ${describe(options.ignoreModules)}`,
    );
  }
  if (options.ignore !== undefined) checkFunction(options.ignore, 'ignore');
  return {
    graceMs,
    tracking,
    context,
    ignoreTypes: new Set(ignoreTypes),
    ignoreModules: [...ignoreModules],
    ignore: options.ignore,
  };
}

/**
 * A leak check: `begin()` remembers what is alive, `end()` reports every
 * handle and JS timer born since then that is still alive (closing ones
 * included, after a bounded grace for them to finish).
 */
export function leakCheck(options: LeakCheckOptions = {}): LeakCheck {
  const opts = resolveOptions(options);
  const scope: Scope = { name: 'leak check' };
  return makeCheck(opts, scope, opts.context ? madeIn(scope) : null);
}

/** What a context check looks at: births in `scope`, and handles whose birth was not seen (by time). */
export function madeIn(scope: Scope): Accept {
  return (capture) => capture === undefined || capture.scope === scope;
}

/**
 * A check that looks only at the births `accept` takes (a capture, or
 * undefined for a handle whose birth was not seen; null: all born since
 * begin). uv-drain/vitest's scopes: a test, a block's hooks, a file's collection.
 */
export function leakCheckOf(options: LeakCheckOptions, scope: Scope, accept: Accept | null): LeakCheck {
  return makeCheck(resolveOptions(options), scope, accept);
}

/**
 * What was born before now outside every check's run() — or later, by a pool
 * made before now outside every run() — and the handles alive now whose birth
 * uv-drain did not see: a test file's collection.
 */
export function bornOutsideScopes(): Accept {
  takeMatches();
  const epoch = nextEpoch();
  const { records } = binding.snapshot(false);
  const alive = keysOf(records);
  return (capture, key) => (capture !== undefined ? capture.scope === null && capture.madeEpoch < epoch : key !== null && alive.has(key));
}

const reconfigurable = new WeakMap<LeakCheck, (options: LeakCheckOptions) => void>();

/**
 * Changes the options of a begun check for its end() (uv-drain/vitest's
 * per-test options); tracking and context are fixed at begin().
 */
export function reconfigure(check: LeakCheck, options: LeakCheckOptions): void {
  reconfigurable.get(check)?.(options);
}

function makeCheck(initial: Resolved, scope: Scope, accept: Accept | null): LeakCheck {
  let opts = initial;
  let began: Begun | null = null;
  const check: LeakCheck = {
    run(fn) {
      checkFunction(fn, 'fn');
      return runInScope(scope, fn);
    },
    begin() {
      began?.release();
      began = beginCheck(opts, accept);
    },
    async end() {
      const state = began;
      if (state === null) throw new UvDrainError('UVD_ERR_NOT_BEGUN', 'leakCheck: end() was called without begin()');
      began = null;
      try {
        return await endCheck(opts, state);
      } finally {
        state.release();
      }
    },
    cancel() {
      began?.release();
      began = null;
    },
  };
  reconfigurable.set(check, (options) => {
    const next = resolveOptions(options);
    if (began !== null && (next.tracking !== opts.tracking || next.context !== opts.context)) {
      throw new RangeError('The "tracking" and "context" options cannot change while a check is running');
    }
    opts = next;
  });
  return check;
}

/** Which births a check looks at (null: all born since begin). */
export type Accept = (capture: Capture | undefined, handleKey: number | null) => boolean;

export interface Begun {
  records: Float64Array;
  accept: Accept | null;
  epoch: number;
  /**
   * JS timers born since begin (tracking on), held weakly: a timer that ran
   * keeps its callback, and the callback the test's objects (a check must not
   * keep them from being collected). A pending timer is held by Node's timer
   * lists, so it stays.
   */
  timers: PendingTimers<true>;
  /** Referenced timers and immediates alive at begin (tracking off). */
  timerCounts: Record<string, number>;
  release(): void;
}

function beginCheck(opts: Resolved, accept: Accept | null): Begun {
  guardStdio();
  // Timer-heavy code inside a long check: the set forgets the timers that are done.
  const timers = new PendingTimers<true>({ weak: true, pruneAt: PRUNE_TIMERS_AT });
  let releaseStacks: (() => void) | null = null;
  let stopTimers: (() => void) | null = null;
  if (opts.tracking) {
    releaseStacks = retainStacks();
    stopTimers = onTimerBirth((timer) => timers.set(timer, true));
    // Births announced before begin() but matched only now are not this check's.
    takeMatches();
  }
  return {
    records: binding.snapshot(false).records,
    accept,
    epoch: nextEpoch(),
    timers,
    timerCounts: opts.tracking ? {} : refTimerCounts(),
    release() {
      stopTimers?.();
      releaseStacks?.();
      stopTimers = releaseStacks = null;
    },
  };
}

async function endCheck(opts: Resolved, state: Begun): Promise<LeakReport> {
  // Let what the checked code queued with process.nextTick run first (no
  // loop iteration: the tick queue drains, ticks queued by ticks included,
  // before this continuation runs): server.listen(port, host) makes its
  // handle in one.
  await new Promise<void>((resolve) => nextTick(resolve));
  const started = now();
  const deadline = started + opts.graceMs;
  let iterations = 0;
  let sleepMs = 1;
  for (;;) {
    const found = findLeaks(opts, state, false);
    if (found === null || (found !== WAITING && found.leaks.length === 0)) {
      return finish(opts, found, started, iterations);
    }
    if (iterations >= FEW_ITERATIONS && now() >= deadline) {
      return finish(opts, findLeaks(opts, state, true), started, iterations);
    }
    if (iterations < FEW_ITERATIONS) {
      await withoutOwner(() => new Promise<void>((resolve) => setImmediate(resolve)));
    } else {
      const wait = Math.max(1, Math.min(sleepMs, deadline - now()));
      await withoutOwner(() => new Promise<void>((resolve) => setTimeout(resolve, wait)));
      sleepMs = Math.min(sleepMs * 2, MAX_SLEEP_MS);
    }
    iterations++;
  }
}

function finish(
  opts: Resolved,
  found: Found | typeof WAITING | null,
  started: number,
  iterations: number,
): LeakReport {
  const result = found === WAITING ? null : found;
  return {
    ok: result === null || result.leaks.length === 0,
    leaks: result?.leaks ?? [],
    ignored: result?.ignored ?? 0,
    waitedMs: now() - started,
    iterations,
    tracking: opts.tracking,
  };
}

export { describeLeak, formatLeakReport, leakCount, type FormatOptions } from './leak-format';
