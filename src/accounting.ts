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
  /** Path of the shared object holding the callback the handle will call next, or null. */
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

/** Every handle uv_walk visits on this thread's loop, in creation order. */
export function snapshot(): HandleInfo[] {
  const { records, modules } = binding.snapshot(true);
  const out: HandleInfo[] = new Array(records.length / RECORD.fields);
  for (let i = 0, r = 0; r < records.length; i++, r += RECORD.fields) out[i] = handleInfo(records, r, modules);
  return out;
}

/** The HandleInfo of the record at offset `r` of binding.snapshot()'s records. */
export function handleInfo(records: Float64Array, r: number, modules: string[]): HandleInfo {
  const fd = records[r + RECORD.fd]!;
  const module = records[r + RECORD.module]!;
  const bits = records[r + RECORD.bits]!;
  return {
    id: idOf(keyAt(records, r)),
    type: typeAt(records, r),
    active: (bits & RECORD.bitActive) !== 0,
    ref: (bits & RECORD.bitRef) !== 0,
    closing: (bits & RECORD.bitClosing) !== 0,
    fd: fd < 0 ? null : fd,
    owner: ownerNameOf(records[r + RECORD.owner]!),
    module: module < 0 ? null : modules[module]!,
  };
}

/** Totals for the whole loop. */
export function stats(): LoopStats {
  binding.stats();
  return {
    handles: scratch[0],
    active: scratch[1],
    ref: scratch[2],
    closing: scratch[3],
    activeReqs: scratch[4],
    alive: scratch[5] !== 0,
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
  return countsFromScratch(jsRequests(record), pendingTimers(record));
}

function countsOfId(id: number, jsReqs: number, timers: number): OwnerCounts {
  binding.countsFor(id);
  return countsFromScratch(jsReqs, timers);
}

function countsFromScratch(jsReqs: number, timers: number): OwnerCounts {
  return {
    total: scratch[0],
    active: scratch[1],
    ref: scratch[2],
    closing: scratch[3],
    requests: scratch[4] + jsReqs,
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
  for (let r = 0; r < packed.length; r += 6) {
    const name = ownerNameOf(packed[r] & OWNER_INDEX_MASK);
    if (name === null) continue;
    out[name] = {
      total: packed[r + 1],
      active: packed[r + 2],
      ref: packed[r + 3],
      closing: packed[r + 4],
      requests: packed[r + 5],
      timers: 0,
    };
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
