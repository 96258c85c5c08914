// JS timers as uv-drain reads them: the fields of Node's Timeout and
// Immediate objects, what a leak report or the CLI says of one, and a set of
// pending timers that forgets the ones that are done.
import type { Capture } from './stacks';

/** The fields of Node's Timeout and Immediate objects uv-drain reads. */
export interface TimerObject {
  // Set on a Timeout once it fired (not repeating) or was cleared, on an
  // Immediate once it ran or was cleared; a refreshed Timeout gets false again.
  _destroyed?: boolean;
  _idleTimeout?: number;
  _repeat?: number | null;
  _onTimeout?: unknown;
  _onImmediate?: unknown;
  hasRef?: () => boolean;
}

// Node marks every end of a timer by setting its `_destroyed` to true: a
// Timeout that fired (not repeating) or was cleared (clearTimeout,
// clearInterval, close(), an aborted timers/promises wait), an Immediate
// about to run or cleared; a refresh after the end sets it back to false
// (with a new async id). lib/internal/timers.js, lib/timers.js and
// timers/promises only ever read and assign it, and both constructors assign
// it (`this._destroyed = false`, no class field) — an assignment that goes
// through a setter found on the prototype chain. So one accessor on each
// prototype, installed at the first owned birth of its kind, sees every end
// of every timer made after that, for a cost of one symbol-keyed store; the
// value lives in an own symbol-keyed property (util.inspect shows it as
// `Symbol(uv-drain:_destroyed)`). The setter tells the end to the timer's
// ON_END, set at an owned birth only. A timer whose own `_destroyed` hides
// the accessor (made before it was installed) gets its field moved under it;
// a timer whose prototype is not Node's gets an own accessor of the same pair.
const DESTROYED = Symbol('uv-drain:_destroyed');
const ON_END = Symbol('uv-drain:on-end');

/** A timer as its end is told: the stored `_destroyed` and who hears of its end. */
interface TimerEnds {
  _destroyed?: boolean;
  [DESTROYED]?: boolean;
  [ON_END]?: (timer: object) => void;
}

function getDestroyed(this: TimerEnds): boolean | undefined {
  return this[DESTROYED];
}

function setDestroyed(this: TimerEnds, value: boolean): void {
  this[DESTROYED] = value;
  if (value !== true) return;
  const onEnd = this[ON_END];
  if (onEnd !== undefined) onEnd(this);
}

const accessorOn = new WeakSet<object>();
let refListener: ((timer: object) => void) | null = null;

/**
 * `listener` hears of every unref() of a timer whose end is told (owned at
 * some point): the owner's timers may no longer hold the loop. (A ref()'d
 * timer holds the loop by itself: nobody else need hold it.)
 */
export function onTimerRefChange(listener: (timer: object) => void): void {
  refListener = listener;
}

// unref() keeps its behaviour; a told timer's call is passed on.
function tellRefChanges(proto: object): void {
  const descriptor = Object.getOwnPropertyDescriptor(proto, 'unref');
  const original = descriptor?.value as ((this: object) => unknown) | undefined;
  if (descriptor === undefined || typeof original !== 'function' || descriptor.configurable !== true) return;
  function unref(this: TimerEnds): unknown {
    const result = original!.call(this);
    if (this[ON_END] !== undefined) refListener?.(this);
    return result;
  }
  Object.defineProperty(proto, 'unref', { ...descriptor, value: unref });
}

/** Puts the accessor on Node's Timeout or Immediate prototype, once; false for anything else. */
function installOn(proto: object | null): boolean {
  if (proto === null) return false;
  if (accessorOn.has(proto)) return true;
  const name = (proto as { constructor?: { name?: unknown } }).constructor?.name;
  if (name !== 'Timeout' && name !== 'Immediate') return false;
  if (typeof (proto as TimerObject).hasRef !== 'function' || Object.hasOwn(proto, '_destroyed')) return false;
  Object.defineProperty(proto, '_destroyed', { configurable: true, enumerable: false, get: getDestroyed, set: setDestroyed });
  tellRefChanges(proto);
  accessorOn.add(proto);
  return true;
}

/**
 * From now on, `timer`'s end calls `onEnd(timer)` at once (and again after
 * each refresh, until `onEnd` is replaced). false if it cannot be told (a
 * sealed object): its end is then only seen by reading its `_destroyed`.
 */
export function tellEnd(timer: object, onEnd: (timer: object) => void): boolean {
  const t = timer as TimerEnds;
  // Born under the accessor: its constructor's assignment stored the value.
  if (t[DESTROYED] !== undefined) {
    t[ON_END] = onEnd;
    return true;
  }
  try {
    t[ON_END] = onEnd;
    const value = t._destroyed;
    if (!Object.hasOwn(t, '_destroyed') || !installOn(Object.getPrototypeOf(t) as object | null) || !delete t._destroyed) {
      Object.defineProperty(t, '_destroyed', { configurable: true, enumerable: true, get: getDestroyed, set: setDestroyed });
    }
    t[DESTROYED] = value;
    return true;
  } catch {
    return false;
  }
}

export function isDone(timer: object): boolean {
  return (timer as TimerObject)._destroyed === true;
}

export function hasRef(timer: object): boolean {
  const t = timer as TimerObject;
  return typeof t.hasRef === 'function' ? t.hasRef() : true;
}

/** What a report says of a pending timer. */
export interface TimerFacts {
  type: 'Timeout' | 'Immediate';
  /** 'timeout:<asyncId>' or 'immediate:<asyncId>' ('?' when its birth was not seen). */
  id: string;
  ref: boolean;
  repeatMs: number | null;
  delayMs: number | null;
  /** The callback's name, if it has one. */
  callback: string | null;
}

/** The facts of `timer`; `capture` is its birth, if uv-drain saw it. */
export function timerFacts(timer: object, capture: Capture | undefined): TimerFacts {
  const t = timer as TimerObject;
  const immediate = capture?.asyncType === 'Immediate' || t._onImmediate !== undefined;
  const callback = immediate ? t._onImmediate : t._onTimeout;
  return {
    type: immediate ? 'Immediate' : 'Timeout',
    id: `${immediate ? 'immediate' : 'timeout'}:${capture?.asyncId ?? '?'}`,
    ref: hasRef(timer),
    repeatMs: !immediate && typeof t._repeat === 'number' ? t._repeat : null,
    delayMs: !immediate && typeof t._idleTimeout === 'number' ? t._idleTimeout : null,
    callback: typeof callback === 'function' && callback.name !== '' ? callback.name : null,
  };
}

/**
 * Timers that may still be pending, each with a value. Done timers are
 * dropped when the set is read, and whenever it has doubled since it was last
 * pruned (timer-heavy code that is never read stays bounded). `weak` holds
 * the timers through WeakRef: a timer that ran keeps its callback, and the
 * callback its closure, which a leak check must not keep alive (a pending
 * timer is held by Node's timer lists anyway). `toldEnds`: the owner of the
 * set tells each timer's end through ended() (tellEnd()), so that the set
 * stays exact with no walk; set() says of each timer whether it will be told.
 * `onDrop` sees each value dropped.
 */
export class PendingTimers<V> {
  readonly #entries = new Map<object, V>();
  /** With `toldEnds`: the timers whose end will not be told; while there are none, the set is exact. */
  readonly #untold: Set<object> | null;
  readonly #weak: boolean;
  readonly #minimum: number;
  readonly #onDrop: ((value: V) => void) | undefined;
  #pruneAt: number;

  constructor(options: { weak?: boolean; pruneAt: number; toldEnds?: boolean; onDrop?: (value: V) => void }) {
    this.#weak = options.weak === true;
    this.#untold = options.toldEnds === true && !this.#weak ? new Set() : null;
    this.#minimum = this.#pruneAt = options.pruneAt;
    this.#onDrop = options.onDrop;
  }

  /** The value of `timer` (not for a weak set: its keys are WeakRefs). */
  get(timer: object): V | undefined {
    return this.#weak ? undefined : this.#entries.get(timer);
  }

  /** `told`: (with `toldEnds`) whether ended() will be called at `timer`'s end. */
  set(timer: object, value: V, told = false): void {
    this.#entries.set(this.#weak ? new WeakRef(timer) : timer, value);
    if (this.#untold !== null) {
      if (told) {
        if (this.#untold.size > 0) this.#untold.delete(timer);
        return;
      }
      this.#untold.add(timer);
    }
    if (this.#entries.size >= this.#pruneAt) {
      this.#prune();
      this.#pruneAt = Math.max(this.#minimum, this.#entries.size * 2);
    }
  }

  /** Whether every timer's end is told: the set holds no done timer, and its size costs no walk. */
  get exact(): boolean {
    return this.#untold !== null && this.#untold.size === 0;
  }

  /** How many are pending. */
  get size(): number {
    if (!this.exact) this.#prune();
    return this.#entries.size;
  }

  /** `timer` has ended (run or cleared); false if it was not in the set. */
  ended(timer: object): boolean {
    if (this.#weak || !this.#entries.has(timer)) return false;
    const value = this.#entries.get(timer)!;
    this.#entries.delete(timer);
    this.#untold?.delete(timer);
    this.#onDrop?.(value);
    return true;
  }

  /** The pending timers with their values. */
  entries(): [object, V][] {
    if (!this.exact) this.#prune();
    const out: [object, V][] = [];
    for (const [key, value] of this.#entries) out.push([this.#timerOf(key)!, value]);
    return out;
  }

  /** Whether one of them is pending and referenced. */
  someRef(): boolean {
    for (const key of this.#entries.keys()) {
      const timer = this.#timerOf(key);
      if (timer !== undefined && !isDone(timer) && hasRef(timer)) return true;
    }
    return false;
  }

  #timerOf(key: object): object | undefined {
    return this.#weak ? (key as WeakRef<object>).deref() : key;
  }

  #prune(): void {
    for (const [key, value] of this.#entries) {
      const timer = this.#timerOf(key);
      if (timer !== undefined && !isDone(timer)) continue;
      this.#entries.delete(key);
      this.#untold?.delete(key);
      this.#onDrop?.(value);
    }
  }
}
