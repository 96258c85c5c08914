// The owner registry: one record per owner name, made on first use, found by
// name or by the native owner index its handles are tagged with. A record
// holds what only JS can count for its owner (owned-work.ts counts it): its
// pending JS timers and immediates and its JS requests in flight.
import { binding, OWNER_INDEX_MASK } from './native';
import { PendingTimers } from './timers';

export interface OwnerRecord {
  id: number;
  name: string;
  requests: number;
  /** Pending JS timers and immediates, with their current async ids. */
  timers: PendingTimers<number>;
  /** Told each owned timer's end (owned-work.ts), made at its first timer. */
  timerEnd: ((timer: object) => void) | undefined;
}

const byName = new Map<string, OwnerRecord>();
const byIndex = new Map<number, OwnerRecord>();
/** Async ids of owners' pending timers: their callbacks are owner activity. */
export const timerOwners = new Map<number, OwnerRecord>();

// A timer's end is told at once (owned-work.ts), and an Immediate's end is
// marked just before its callback runs: its async id is forgotten in a
// microtask, after that callback, so that what the callback makes is still
// its owner's (births.ts: the owner of the running timer).
const dropped: number[] = [];
function forgetTimerLater(asyncId: number): void {
  if (dropped.push(asyncId) === 1) queueMicrotask(forgetDropped);
}
function forgetDropped(): void {
  for (const asyncId of dropped) timerOwners.delete(asyncId);
  dropped.length = 0;
}

/** The record of `owner`, created on first use (ids are per loop and permanent). */
export function ownerRecord(owner: string): OwnerRecord {
  let record = byName.get(owner);
  if (record === undefined) {
    const id = binding.ownerId(owner);
    // Each timer's end is told (owned-work.ts); one that cannot be is dropped
    // when counted after it ended, and the set prunes itself as it grows.
    const timers = new PendingTimers<number>({ pruneAt: 64, toldEnds: true, onDrop: forgetTimerLater });
    record = { id, name: owner, requests: 0, timers, timerEnd: undefined };
    byName.set(owner, record);
    byIndex.set(id & OWNER_INDEX_MASK, record);
  }
  return record;
}

export function existingOwner(owner: string): OwnerRecord | undefined {
  return byName.get(owner);
}

/** The owner name of a native owner index (owners tagged through the C API included). */
export function ownerNameOf(index: number): string | null {
  if (index === 0) return null;
  const known = byIndex.get(index);
  if (known !== undefined) return known.name;
  const name = binding.ownerName(index);
  return name === '' ? null : name;
}

/** Pending JS timers and immediates of `record`; drops the ones that have run or were cleared. */
export function pendingTimers(record: OwnerRecord): number {
  return record.timers.size;
}

/** Whether `record` has a pending referenced JS timer (it holds the loop by itself). */
export function hasRefTimer(record: OwnerRecord): boolean {
  return record.timers.someRef();
}

export function jsRequests(record: OwnerRecord): number {
  return record.requests;
}

export function knownOwners(): Iterable<OwnerRecord> {
  return byName.values();
}
