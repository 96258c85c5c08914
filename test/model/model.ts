// An independent model of what a property run put on the loop: every handle
// it made (fixture raw handles, MessagePorts, net servers), in-flight
// requests and pending JS timers, per owner. It learns only from what the
// test did and from the callbacks the handles themselves call (a close
// callback means the handle has left the loop), never from uv-drain.
import type { Kind } from '../fixture.js';

export type Source = 'fx' | 'port' | 'server';

export interface ModelHandle {
  key: number;
  source: Source;
  /** uv_handle_type_name() of the handle. */
  type: string;
  owner: string | null;
  active: boolean;
  ref: boolean;
  /** uv_close() called, close callback not yet run. */
  closing: boolean;
  /** Fixture handles: the address ('0x' + 16 hex digits). */
  addr?: string;
  kind?: Kind;
  /** Fixture handles: started once (its type callback is set from then on). */
  started?: boolean;
}

export interface Totals {
  total: number;
  active: number;
  ref: number;
  closing: number;
  requests: number;
  timers: number;
}

export const ZERO: Totals = Object.freeze({ total: 0, active: 0, ref: 0, closing: 0, requests: 0, timers: 0 });

export class LoopModel {
  /** Bumped by every mutation: "when" in the model's history. */
  clock = 0;
  /** Loop turns the runner awaited (each await lets at least part of one iteration run). */
  ticks = 0;
  readonly handles = new Map<number, ModelHandle>();
  /** Requests begun through the C API directly (the test ends them). */
  readonly manualRequests = new Map<string, number>();
  /** Requests of fixture jobs (uv_queue_work, uv_fs chains): ended by the fixture. */
  readonly jobRequests = new Map<string, number>();
  readonly timers = new Map<string, number>();
  /** Violations seen inside callbacks (throwing there would kill the process). */
  readonly violations: string[] = [];
  /** Step log, printed with a failure. */
  readonly log: string[] = [];
  private nextKey = 1;
  private readonly lastDrainedClock = new Map<string, number>();
  private readonly drainedSinceTick = new Map<string, number>();

  constructor(readonly owners: readonly string[]) {
    for (const o of owners) {
      this.lastDrainedClock.set(o, 0);
      this.drainedSinceTick.set(o, 0);
    }
  }

  add(h: Omit<ModelHandle, 'key'>): ModelHandle {
    const handle = { ...h, key: this.nextKey++ };
    this.handles.set(handle.key, handle);
    this.mutated();
    return handle;
  }

  update(h: ModelHandle, patch: Partial<Omit<ModelHandle, 'key'>>): void {
    Object.assign(h, patch);
    this.mutated();
  }

  /** The handle's close callback has run: it is no longer on the loop. */
  gone(h: ModelHandle): void {
    if (!this.handles.delete(h.key)) this.violation(`close callback of ${describeHandle(h)} ran twice`);
    this.mutated();
  }

  isLive(h: ModelHandle): boolean {
    return this.handles.has(h.key);
  }

  manualDelta(owner: string, d: number): void {
    bump(this.manualRequests, owner, d);
    this.mutated();
  }

  jobDelta(owner: string, d: number): void {
    bump(this.jobRequests, owner, d);
    this.mutated();
  }

  timerDelta(owner: string, d: number): void {
    bump(this.timers, owner, d);
    this.mutated();
  }

  totals(owner: string): Totals {
    const t = { ...ZERO };
    for (const h of this.handles.values()) {
      if (h.owner !== owner) continue;
      t.total++;
      if (h.active) t.active++;
      if (h.ref) t.ref++;
      if (h.closing) t.closing++;
    }
    t.requests = (this.manualRequests.get(owner) ?? 0) + (this.jobRequests.get(owner) ?? 0);
    t.timers = this.timers.get(owner) ?? 0;
    return t;
  }

  isDrained(owner: string): boolean {
    const t = this.totals(owner);
    return t.total === 0 && t.requests === 0 && t.timers === 0;
  }

  /** Whether `owner` was drained at some point at or after clock `since`. */
  drainedSince(owner: string, since: number): boolean {
    return this.isDrained(owner) || (this.lastDrainedClock.get(owner) ?? -1) >= since;
  }

  /** The tick since which `owner` has been drained without interruption (undefined if not drained). */
  drainedFromTick(owner: string): number | undefined {
    return this.isDrained(owner) ? this.drainedSinceTick.get(owner) : undefined;
  }

  /** Nothing of the run left: no handle, no request, no timer. */
  empty(): boolean {
    return this.handles.size === 0 && this.owners.every((o) => this.isDrained(o));
  }

  fixtureHandles(filter: (h: ModelHandle) => boolean = () => true): ModelHandle[] {
    return [...this.handles.values()].filter((h) => h.source === 'fx' && filter(h));
  }

  violation(message: string): void {
    this.violations.push(`${message} (at clock ${this.clock}, after: ${this.log.slice(-3).join(' | ')})`);
  }

  note(step: string): void {
    this.log.push(step);
  }

  tick(): void {
    this.ticks++;
  }

  private readonly wasDrained = new Map<string, boolean>();

  private mutated(): void {
    this.clock++;
    for (const o of this.owners) {
      const drained = this.isDrained(o);
      if (drained) {
        this.lastDrainedClock.set(o, this.clock);
        if (this.wasDrained.get(o) === false) this.drainedSinceTick.set(o, this.ticks);
      }
      this.wasDrained.set(o, drained);
    }
  }
}

function bump(map: Map<string, number>, key: string, d: number): void {
  const n = (map.get(key) ?? 0) + d;
  if (n < 0) throw new Error(`model: count of ${key} would go negative`);
  if (n === 0) map.delete(key);
  else map.set(key, n);
}

export function describeHandle(h: ModelHandle): string {
  return `${h.source}:${h.type}#${h.key}${h.addr ? '@' + h.addr : ''}(${h.owner ?? '-'}${h.closing ? ',closing' : ''})`;
}

/** Picks the `n`-th element (modulo) of `list`, or undefined if it is empty. */
export function pick<T>(list: readonly T[], n: number): T | undefined {
  return list.length === 0 ? undefined : list[n % list.length];
}
