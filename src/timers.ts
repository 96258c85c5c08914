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
 * timer is held by Node's timer lists anyway). `onDrop` sees each value dropped.
 */
export class PendingTimers<V> {
  readonly #entries = new Map<object, V>();
  /** Timers whose end will be told (ended()): while every entry is one, reading the size walks nothing. */
  readonly #told = new Set<object>();
  readonly #weak: boolean;
  readonly #minimum: number;
  readonly #onDrop: ((value: V) => void) | undefined;
  #pruneAt: number;

  constructor(options: { weak?: boolean; pruneAt: number; onDrop?: (value: V) => void }) {
    this.#weak = options.weak === true;
    this.#minimum = this.#pruneAt = options.pruneAt;
    this.#onDrop = options.onDrop;
  }

  /** The value of `timer` (not for a weak set: its keys are WeakRefs). */
  get(timer: object): V | undefined {
    return this.#weak ? undefined : this.#entries.get(timer);
  }

  set(timer: object, value: V): void {
    this.#entries.set(this.#weak ? new WeakRef(timer) : timer, value);
    if (this.#entries.size >= this.#pruneAt) {
      this.#prune();
      this.#pruneAt = Math.max(this.#minimum, this.#entries.size * 2);
    }
  }

  /** How many are pending. */
  get size(): number {
    if (this.#told.size !== this.#entries.size) this.#prune();
    return this.#entries.size;
  }

  /**
   * From now on, `timer`'s end will be told through ended() (not for a weak
   * set): code that clears thousands of timers one at a time, with a count
   * read between (a paced wrap-up), then costs no walk of the set per read.
   */
  tellsEnd(timer: object): void {
    if (!this.#weak && this.#entries.has(timer)) this.#told.add(timer);
  }

  /** `timer` has ended (run or cleared). */
  ended(timer: object): void {
    if (this.#weak || !this.#entries.has(timer)) return;
    const value = this.#entries.get(timer)!;
    this.#entries.delete(timer);
    this.#told.delete(timer);
    this.#onDrop?.(value);
  }

  /** The pending timers with their values. */
  entries(): [object, V][] {
    this.#prune();
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
      this.#told.delete(key);
      this.#onDrop?.(value);
    }
  }
}
