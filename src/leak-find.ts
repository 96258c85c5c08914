// Leak checks, the diff: what was born since begin() and is still alive, from
// the loop's records and the pending JS timers, with the rules applied.
import { handleInfo } from './accounting';
import { binding } from './native';
import { uvTypeOf } from './births';
import { isRunnerMade, isSharedMade } from './provenance';
import { describeResource } from './resource-names';
import { stackOf } from './stack-text';
import { handleCapture, takeMatches, timerCapture, type Capture } from './stacks';
import { isStdioHandle } from './stdio';
import { keyAt, RECORD, typeAt } from './records';
import { timerFacts } from './timers';
import { isIgnored, isLibrarySingleton } from './leak-rules';
import type { Begun, Leak, LeakedTimer, Resolved } from './leaks';

const TIMER_TYPES = ['Timeout', 'Immediate'] as const;

export interface Found {
  leaks: Leak[];
  ignored: number;
}

/** "Something that is not ignored is still alive": all end() needs to know while it waits. */
export const WAITING = Symbol('waiting');

/**
 * What was born since begin() and is alive: null when nothing (the common,
 * cheap case). While waiting (not `final`), WAITING as soon as one thing that
 * no rule ignores is seen, without building the report.
 */
export function findLeaks(opts: Resolved, state: Begun, final: boolean): Found | typeof WAITING | null {
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
    // Shared objects too now, for the fresh handles only: one more walk, no object per handle.
    const full = binding.snapshot(true);
    const records = full.records;
    const wanted = new Set(fresh.map((r) => keyAt(now, r)));
    for (let r = 0; r < records.length; r += RECORD.fields) {
      const key = keyAt(records, r);
      if (!wanted.has(key)) continue; // older, or born between the two walks
      const info = handleInfo(records, r, full.sharedObjects);
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
// thing is surely not ignored. Node's timers and polls need their shared
// object (isNodesOwn): they take the full path.
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
export function refTimerCounts(): Record<string, number> {
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
