// Reading the loop: whole-loop stats, per-owner counts and the handle list.
import fs = require('node:fs');

import { binding, OWNER_INDEX_MASK } from './native';
import { existingOwner, jsRequests, knownOwners, ownerNameOf, pendingTimers } from './owners';
import { idOf, keyAt, RECORD, typeAt } from './records';
import { checkOwner } from './validate';

/** One live handle of the loop, as uv_walk sees it. */
export interface HandleInfo {
  /** The handle's address, formatted like Node's diagnostic report: `0x` + 16 hex digits. */
  id: string;
  /** `uv_handle_type_name()`: 'tcp', 'timer', 'async', ... */
  type: string;
  /** `uv_is_active()`: the handle is doing something that will call back. */
  active: boolean;
  /** `uv_has_ref()`: while active, it keeps the loop alive. */
  ref: boolean;
  /** `uv_close()` was called and its close callback has not run yet. */
  closing: boolean;
  /** `uv_fileno()`, or null for handles without a descriptor. */
  fd: number | null;
  /** The owner tag, or null. */
  owner: string | null;
  /**
   * The shared object (the node binary, an addon, a C module's .so...) holding the callback the handle
   * will call next, by its real path, or null. The name `module` is kept for the shared object.
   */
  module: string | null;
}

export interface LoopStats {
  handles: number;
  active: number;
  ref: number;
  closing: number;
  /** The loop's in-flight request counter (libuv cannot list requests). */
  activeReqs: number;
  /** `uv_loop_alive()`. */
  alive: boolean;
}

export interface OwnerCounts {
  /** Live handles, closing ones included. */
  total: number;
  active: number;
  ref: number;
  /** Closing handles whose close callback has not run yet (included in total). */
  closing: number;
  /** In-flight requests: counted through the C API, plus JS requests seen by owner tracking. */
  requests: number;
  /** Pending JS timers and immediates (they share one uv handle per thread). */
  timers: number;
}

const scratch = binding.scratch;
const COUNTS = binding.countsLayout;
const STATS = binding.statsLayout;
const OWNER_ROW = binding.ownerRowLayout;

/** Every handle uv_walk visits on this thread's loop, in creation order. */
export function snapshot(): HandleInfo[] {
  const { records, sharedObjects } = binding.snapshot(true);
  const out: HandleInfo[] = new Array(records.length / RECORD.fields);
  for (let i = 0, r = 0; r < records.length; i++, r += RECORD.fields) out[i] = handleInfo(records, r, sharedObjects);
  return out;
}

/** The HandleInfo of the record at offset `r` of binding.snapshot()'s records; `sharedObjects` is its paths. */
export function handleInfo(records: Float64Array, r: number, sharedObjects: string[]): HandleInfo {
  const fd = records[r + RECORD.fd]!;
  const sharedObject = records[r + RECORD.sharedObject]!;
  const bits = records[r + RECORD.bits]!;
  return {
    id: idOf(keyAt(records, r)),
    type: typeAt(records, r),
    active: (bits & RECORD.bitActive) !== 0,
    ref: (bits & RECORD.bitRef) !== 0,
    closing: (bits & RECORD.bitClosing) !== 0,
    fd: fd < 0 ? null : fd,
    owner: ownerNameOf(records[r + RECORD.owner]!),
    module: sharedObject < 0 ? null : sharedObjects[sharedObject]!,
  };
}

/** Totals for the whole loop. */
export function stats(): LoopStats {
  binding.stats();
  return {
    handles: scratch[STATS.handles]!,
    active: scratch[STATS.active]!,
    ref: scratch[STATS.ref]!,
    closing: scratch[STATS.closing]!,
    activeReqs: scratch[STATS.activeReqs]!,
    alive: scratch[STATS.alive] !== 0,
  };
}

/**
 * The live handles, in-flight requests and pending JS timers of `owner`.
 * No object per handle: this is what a drain watcher calls every iteration.
 */
export function countsFor(owner: string): OwnerCounts {
  checkOwner(owner);
  const record = existingOwner(owner);
  if (record === undefined) {
    // Native code may have created the owner through the C API.
    return countsOfId(nativeIdOf(owner), 0, 0);
  }
  return countsOfId(record.id, jsRequests(record), pendingTimers(record));
}

/**
 * countsFor() of a watched owner from the drain watcher's last recount,
 * without walking the loop again: for callers that just had the watcher
 * recount (its callbacks, drain.ts). Falls back to a walk if not watched.
 */
export function countsOfWatched(owner: string): OwnerCounts {
  const record = existingOwner(owner);
  if (record === undefined || !binding.watchedCounts(record.id)) return countsFor(owner);
  return countsAt(scratch, 0, jsRequests(record), pendingTimers(record));
}

/** countsFor() by walking the whole loop, whatever the owner index holds (tests compare the two). */
export function countsByWalk(owner: string): OwnerCounts {
  checkOwner(owner);
  const record = existingOwner(owner);
  binding.countsByWalk(record?.id ?? nativeIdOf(owner));
  return countsAt(scratch, 0, record ? jsRequests(record) : 0, record ? pendingTimers(record) : 0);
}

function countsOfId(id: number, jsReqs: number, timers: number): OwnerCounts {
  binding.countsFor(id);
  return countsAt(scratch, 0, jsReqs, timers);
}

/** The native counts at `at` (`countsLayout`), plus what JS counts. */
function countsAt(array: Float64Array, at: number, jsReqs: number, timers: number): OwnerCounts {
  return {
    total: array[at + COUNTS.total]!,
    active: array[at + COUNTS.active]!,
    ref: array[at + COUNTS.ref]!,
    closing: array[at + COUNTS.closing]!,
    requests: array[at + COUNTS.requests]! + jsReqs,
    timers,
  };
}

function nativeIdOf(owner: string): number {
  // Looking an owner up creates it; that is harmless (ids are per name).
  return binding.ownerId(owner);
}

/** countsFor() of every owner that has something alive (a handle, request or timer). */
export function countsByOwner(): Record<string, OwnerCounts> {
  const packed = binding.countsByOwner();
  const out: Record<string, OwnerCounts> = Object.create(null);
  for (let r = 0; r < packed.length; r += OWNER_ROW.fields) {
    const name = ownerNameOf(packed[r + OWNER_ROW.index]! & OWNER_INDEX_MASK);
    if (name === null) continue;
    out[name] = countsAt(packed, r + OWNER_ROW.counts, 0, 0);
  }
  for (const record of knownOwners()) {
    const requests = jsRequests(record);
    const timers = pendingTimers(record);
    if (requests === 0 && timers === 0) continue;
    const counts = (out[record.name] ??= {
      total: 0,
      active: 0,
      ref: 0,
      closing: 0,
      requests: 0,
      timers: 0,
    });
    counts.requests += requests;
    counts.timers = timers;
  }
  return out;
}

/** The node binary's real path: `HandleInfo.module` of the handles whose callbacks are Node's own. */
export const NODE_BINARY: string = (() => {
  try {
    return fs.realpathSync(process.execPath);
  } catch {
    return process.execPath;
  }
})();
