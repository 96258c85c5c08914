// Leak checks: which handles and JS timers born since begin() are still
// alive at end(). Framework-neutral; uv-drain/vitest runs one around every test.
import { handleInfo, NODE_BINARY, type HandleInfo } from './accounting';
import { colours } from './colours';
import { UvDrainError } from './errors';
import { binding } from './native';
import { withoutOwner } from './owners';
import {
  describeResource,
  handleCapture,
  isRunnerMade,
  isSharedMade,
  librarySite,
  nextEpoch,
  onTimerBirth,
  retainStacks,
  stackOf,
  takeMatches,
  timerCapture,
  uvTypeOf,
  type Capture,
} from './stacks';
import { guardStdio, isStdioHandle } from './stdio';
import { keyAt, keyOfId, keysOf, RECORD, typeAt } from './records';
import { hasRef, isDone, PendingTimers, timerFacts } from './timers';
import { handlesAndTimers, handleState, timerTiming } from './text';
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
const TIMER_TYPES = ['Timeout', 'Immediate'] as const;

interface Resolved {
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

interface Begun {
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
  guardStdio(withoutOwner);
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

interface Found {
  leaks: Leak[];
  ignored: number;
}

/** "Something that is not ignored is still alive": all end() needs to know while it waits. */
const WAITING = Symbol('waiting');

/**
 * What was born since begin() and is alive: null when nothing (the common,
 * cheap case). While waiting (not `final`), WAITING as soon as one thing that
 * no rule ignores is seen, without building the report.
 */
function findLeaks(opts: Resolved, state: Begun, final: boolean): Found | typeof WAITING | null {
  // Stacks are formatted only for the report, or for a predicate that may read them.
  const withStacks = final || opts.ignore !== undefined;
  if (opts.tracking) takeMatches();
  const now = binding.snapshot(false).records;
  let fresh = newHandleOffsets(state, now, opts.tracking);
  let timers = opts.tracking ? state.timers.entries().map(([timer]) => timer) : [];
  const accept = state.accept;
  if (accept !== null) {
    fresh = fresh.filter((r) => {
      const key = keyAt(now, r);
      return accept(capturedAs(key, typeAt(now, r)), key);
    });
    timers = timers.filter((timer) => accept(timerCapture(timer), null));
  }
  const counted = opts.tracking ? null : newTimerCounts(state.timerCounts);
  if (fresh.length === 0 && timers.length === 0 && counted === null) return null;
  if (!final && opts.ignore === undefined && opts.ignoreModules.length === 0 && quickWaiting(opts, now, fresh, timers, counted)) {
    return WAITING;
  }

  const leaks: Leak[] = [];
  const captures: (Capture | undefined)[] = [];
  if (fresh.length > 0) {
    // Modules too now, for the fresh handles only: one more walk, no object per handle.
    const full = binding.snapshot(true);
    const records = full.records;
    const wanted = new Set(fresh.map((r) => keyAt(now, r)));
    for (let r = 0; r < records.length; r += RECORD.fields) {
      const key = keyAt(records, r);
      if (!wanted.has(key)) continue; // older, or born between the two walks
      const info = handleInfo(records, r, full.modules);
      const matching = opts.tracking ? capturedAs(key, info.type) : undefined;
      leaks.push({
        kind: 'handle',
        ...info,
        resource: withStacks ? describeResource(matching, key, info.type) : null,
        stack: withStacks ? stackOf(matching) : null,
      });
      captures.push(matching);
    }
  }
  let singletons = 0;
  for (const timer of timers) {
    const capture = timerCapture(timer);
    if (capture !== undefined && isLibrarySingleton(timer, capture)) {
      singletons++;
      continue;
    }
    leaks.push(describeTimer(timer, withStacks));
    captures.push(capture);
  }
  if (counted !== null) {
    for (const type of TIMER_TYPES) {
      for (let i = 0; i < (counted[type] ?? 0); i++) {
        leaks.push(countedTimer(type));
        captures.push(undefined);
      }
    }
  }
  const kept = leaks.filter((leak, i) => !isIgnored(opts, leak, captures[i]));
  return { leaks: kept, ignored: leaks.length - kept.length + singletons };
}

// The built-in rules and ignoreTypes, from the raw records: true when one
// thing is surely not ignored. Node's timers and polls need their module
// (isNodesOwn): they take the full path.
function quickWaiting(
  opts: Resolved,
  records: Float64Array,
  fresh: number[],
  timers: object[],
  counted: Record<string, number> | null,
): boolean {
  for (const r of fresh) {
    const type = typeAt(records, r);
    if (opts.ignoreTypes.has(type) || type === 'timer' || type === 'poll') continue;
    const key = keyAt(records, r);
    const fd = records[r + RECORD.fd]!;
    if (isStdioHandle(key, type)) continue;
    if (fd >= 0 && fd <= 2 && (type === 'tty' || type === 'pipe' || type === 'tcp')) continue;
    const capture = opts.tracking ? capturedAs(key, type) : undefined;
    if (capture !== undefined && isSharedMade(capture)) continue;
    return true;
  }
  for (const timer of timers) {
    const capture = timerCapture(timer);
    const type = capture?.asyncType === 'Immediate' ? 'Immediate' : 'Timeout';
    if (opts.ignoreTypes.has(type)) continue;
    if (capture === undefined || !(isRunnerMade(capture) || isSharedMade(capture) || isLibrarySingleton(timer, capture))) {
      return true;
    }
  }
  if (counted !== null) {
    for (const type of TIMER_TYPES) if (counted[type] > 0 && !opts.ignoreTypes.has(type)) return true;
  }
  return false;
}

/** The birth of the live handle at `key` if it was observed and made a handle of this uv type. */
function capturedAs(key: number, type: string): Capture | undefined {
  const capture = handleCapture(key);
  return capture !== undefined && uvTypeOf(capture.asyncType) === type ? capture : undefined;
}

// The loop's handle queue is in creation order (libuv appends new handles at
// its tail, src/uv-common.c uv__handle_init): what existed at begin() and is
// still alive comes first, in the same order, then what was born since. A
// greedy walk of both lists finds the first handle that is not a survivor;
// it and everything after it are new. A handle born at the address of a
// closed one of the same type, with no survivor after that one, would pass
// for it; with tracking on, an observed birth since begin() settles it.
function newHandleOffsets(state: Begun, now: Float64Array, tracking: boolean): number[] {
  const before = state.records;
  const out: number[] = [];
  let b = 0;
  let r = 0;
  for (; r < now.length; r += RECORD.fields) {
    let k = b;
    while (k < before.length && !(keyAt(before, k) === keyAt(now, r) && before[k + RECORD.type] === now[r + RECORD.type])) {
      k += RECORD.fields;
    }
    if (k >= before.length) break;
    if (tracking) {
      const capture = handleCapture(keyAt(now, r));
      if (capture !== undefined && capture.epoch >= state.epoch) break;
    }
    b = k + RECORD.fields;
  }
  for (; r < now.length; r += RECORD.fields) out.push(r);
  return out;
}

function describeTimer(timer: object, withStack: boolean): LeakedTimer {
  const capture = timerCapture(timer);
  return {
    kind: 'timer',
    ...timerFacts(timer, capture),
    active: true,
    closing: false,
    fd: null,
    owner: capture?.owner ?? null,
    module: null,
    stack: withStack ? stackOf(capture) : null,
  };
}

function countedTimer(type: 'Timeout' | 'Immediate'): LeakedTimer {
  return {
    kind: 'timer',
    id: `${type.toLowerCase()}:?`,
    type,
    active: true,
    ref: true,
    closing: false,
    fd: null,
    owner: null,
    module: null,
    repeatMs: null,
    delayMs: null,
    callback: null,
    stack: null,
  };
}

/** Referenced JS timers and immediates, as Node lists them (it cannot list unref'd ones). */
function refTimerCounts(): Record<string, number> {
  const counts: Record<string, number> = { Timeout: 0, Immediate: 0 };
  for (const name of process.getActiveResourcesInfo()) {
    if (name === 'Timeout' || name === 'Immediate') counts[name]++;
  }
  return counts;
}

function newTimerCounts(before: Record<string, number>): Record<string, number> | null {
  const now = refTimerCounts();
  let any = false;
  const out: Record<string, number> = {};
  for (const type of TIMER_TYPES) {
    out[type] = Math.max(0, now[type] - (before[type] ?? 0));
    if (out[type] > 0) any = true;
  }
  return any ? out : null;
}

// ------------------------------------------------------------- rules ----


function isIgnored(opts: Resolved, leak: Leak, capture: Capture | undefined): boolean {
  if (leak.kind === 'handle' && isNodesOwn(leak)) return true;
  if (capture !== undefined && (isRunnerMade(capture) || isSharedMade(capture))) return true;
  if (opts.ignoreTypes.has(leak.type)) return true;
  if (leak.module !== null) {
    for (const m of opts.ignoreModules) {
      if (typeof m === 'string' ? m === leak.module : m.test(leak.module)) return true;
    }
  }
  return opts.ignore?.(leak) === true;
}

// A library's process-wide singleton (the npm undici's once-a-second clock
// tick): an unref'd JS timer made by a package's code (librarySite: its
// innermost frame that is not Node's lies under node_modules), and the only
// one alive from that creation site. It keeps no process alive and is made
// once, by whichever test used the library first, so it is no test's leak.
// A second one alive from the same site is not a singleton: it is reported.
const singletonBySite = new Map<string, WeakRef<object>>();
function isLibrarySingleton(timer: object, capture: Capture): boolean {
  if (hasRef(timer)) return false;
  const site = librarySite(capture);
  if (site === null) return false;
  const known = singletonBySite.get(site)?.deref();
  if (known !== undefined && known !== timer && !isDone(known)) return false;
  singletonBySite.set(site, new WeakRef(timer));
  return true;
}

/**
 * Handles Node makes for itself, not for the code that happened to run:
 * - process.stdin/stdout/stderr (and a TTY's SIGWINCH handle), made lazily
 *   on first access and kept for the process's life;
 * - uv timers and polls whose callbacks are Node's: its DNS resolvers'
 *   (c-ares) sockets and timer, which go with the resolver, and its
 *   platform's delayed-task timers. No JS API makes a uv timer or poll of its
 *   own (JS timers share one timer made at startup).
 */
function isNodesOwn(h: LeakedHandle): boolean {
  if (isStdioHandle(keyOfId(h.id), h.type)) return true;
  if (h.fd !== null && h.fd <= 2 && (h.type === 'tty' || h.type === 'pipe' || h.type === 'tcp')) return true;
  return (h.type === 'timer' || h.type === 'poll') && h.module === NODE_BINARY;
}





// ------------------------------------------------------------ format ----

export interface FormatOptions {
  /** ANSI colours (default false). */
  color?: boolean;
  /** First line; default: a summary of the report. */
  title?: string;
}

/** The report as text: one block per leak with its state, owner, module and creation stack. */
export function formatLeakReport(report: LeakReport, options: FormatOptions = {}): string {
  checkObject(report, 'report');
  if (!Array.isArray(report.leaks) || typeof report.ok !== 'boolean') {
    throw new TypeError('The "report" argument must be a LeakReport (with "ok" and a "leaks" array)');
  }
  checkObject(options, 'options');
  if (options.title !== undefined && typeof options.title !== 'string') {
    throw new TypeError(`The "title" option must be a string, received ${describe(options.title)}`);
  }
  if (options.color !== undefined) checkBoolean(options.color, 'color');
  const c = colours(options.color === true);
  const lines: string[] = [options.title ?? summary(report)];
  // Leaks alike but for their id and fd (same type, state, owner, module and
  // creation stack: a loop that made 50 workers) are one entry.
  const groups = new Map<string, Leak[]>();
  // Addresses and pids differ within a group: the entry names the kind.
  const alike = (leak: Leak): Leak =>
    leak.kind === 'handle'
      ? { ...leak, fd: null, resource: leak.resource?.replace(/ (?:pid \d+.*|[\d[:].*)$/, '') ?? null }
      : leak;
  for (const leak of report.leaks) {
    const key = `${leak.type}\u0000${describeLeak(alike(leak))}\u0000${leak.stack ?? ''}`;
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [leak]);
    else group.push(leak);
  }
  let shown = 0;
  for (const group of groups.values()) {
    if (shown === MAX_ENTRIES) break;
    shown++;
    const leak = group[0];
    lines.push('');
    if (group.length === 1) lines.push('  ' + c.bold(leak.type) + ' ' + c.dim(leak.id) + '  ' + describeLeak(leak));
    else {
      // One resource's handles (a Worker's ports) keep its name; many resources' the kind.
      const same = group.every((other) => other.kind === 'handle' && leak.kind === 'handle' && other.resource === leak.resource);
      lines.push(`  ${group.length} × ` + c.bold(leak.type) + '  ' + describeLeak(same ? { ...leak, fd: null } : alike(leak)));
    }
    if (leak.stack !== null) lines.push(c.dim(leak.stack));
    else if (!report.tracking) lines.push(c.dim('    (no creation stack: tracking is off)'));
  }
  if (groups.size > shown) {
    const rest = [...groups.values()].slice(shown).reduce((n, g) => n + g.length, 0);
    lines.push('', `  … and ${rest} more (the full list is the report's \`leaks\`)`);
  }
  return lines.join('\n');
}

/** Entries (groups of alike leaks) a formatted report shows before "and N more". */
const MAX_ENTRIES = 20;

function summary(report: LeakReport): string {
  if (report.ok) return 'uv-drain: nothing leaked';
  return `uv-drain: ${leakCount(report)} born since the check began still alive after ${Math.round(report.waitedMs)} ms:`;
}

/** "2 handles and 1 JS timer": what a report lists. */
export function leakCount(report: LeakReport): string {
  const handles = report.leaks.filter((l) => l.kind === 'handle').length;
  return handlesAndTimers(handles, report.leaks.length - handles);
}

/** State, owner and module of a leak on one line. */
export function describeLeak(leak: Leak): string {
  const parts = [handleState(leak)];
  if (leak.kind === 'timer') {
    const timing = timerTiming(leak);
    if (timing !== null) parts.push(timing);
    if (leak.callback !== null) parts.push(`callback ${leak.callback}()`);
  }
  if (leak.fd !== null) parts.push(`fd ${leak.fd}`);
  parts.push(`owner ${leak.owner ?? '-'}`);
  if (leak.module !== null) parts.push(`module ${leak.module}`);
  const what = leak.kind === 'handle' ? leak.resource ?? null : null;
  return what === null ? parts.join(', ') : `${parts.join(', ')} — ${what}`;
}
