// Owner attribution at birth: which owner a handle, a JS timer or a JS
// request belongs to when it comes into being (ownerAtBirth has the rules, in
// the README's order).
//
// Node fires async_hooks `init` in a wrap's constructor, before the wrap
// creates its uv handle; libuv appends the new handle at the tail of the
// loop's handle queue. So `init` tells the addon "one handle of type T for
// owner O comes next", the addon puts a birth mark of its own at the tail and
// tags the first unclaimed handle of type T after it (native/loop_state.cc).
// Timers and requests have no handle of their own: they are counted here.
import { AsyncLocalStorage, createHook, executionAsyncId } from 'node:async_hooks';
import dns = require('node:dns');
import * as http from 'node:http';
import * as https from 'node:https';
import { promisify } from 'node:util';

import { addCodeRoots, hasCodeRoots, NODE, ownerByCode } from './code-owners';
import { binding, OWNER_INDEX_MASK } from './native';
import { guardStdio } from './stdio';
import { PendingTimers } from './timers';
import { checkBoolean, checkFunction, checkOwner } from './validate';

/** async_hooks resource type -> uv handle type; deferred: the handle is made by a later call (spawn, start). */
const HANDLE_RESOURCES: Record<string, { uv: string; deferred: boolean }> = {
  TCPWRAP: { uv: 'tcp', deferred: false },
  TCPSERVERWRAP: { uv: 'tcp', deferred: false },
  PIPEWRAP: { uv: 'pipe', deferred: false },
  PIPESERVERWRAP: { uv: 'pipe', deferred: false },
  TTYWRAP: { uv: 'tty', deferred: false },
  UDPWRAP: { uv: 'udp', deferred: false },
  SIGNALWRAP: { uv: 'signal', deferred: false },
  STATWATCHER: { uv: 'fs_poll', deferred: false },
  MESSAGEPORT: { uv: 'async', deferred: false },
  PROCESSWRAP: { uv: 'process', deferred: true },
  FSEVENTWRAP: { uv: 'fs_event', deferred: true },
};

/** The uv handle type an async resource type makes ('TCPWRAP' -> 'tcp'), or null. */
export function uvTypeOf(asyncType: string): string | null {
  return Object.hasOwn(HANDLE_RESOURCES, asyncType) ? HANDLE_RESOURCES[asyncType].uv : null;
}

/** One-shot requests: in flight from `init` until their callback has run (`after`). */
const ONE_SHOT_REQUESTS = new Set([
  'FSREQCALLBACK',
  'FSREQPROMISE',
  'FILEHANDLECLOSEREQ',
  'GETADDRINFOREQWRAP',
  'GETNAMEINFOREQWRAP',
  'QUERYWRAP',
  'WRITEWRAP',
  'SHUTDOWNWRAP',
  'SENDWRAP',
  'TCPCONNECTWRAP',
  'PIPECONNECTWRAP',
]);

const uvTypeIndex = new Map(binding.typeNames.map((name, index) => [name, index]));
const handleTypes = new Map(
  Object.entries(HANDLE_RESOURCES).map(([resource, { uv, deferred }]) => [
    resource,
    { type: uvTypeIndex.get(uv) ?? 0, deferred },
  ]),
);

interface OwnerRecord {
  id: number;
  name: string;
  requests: number;
  /** Pending JS timers and immediates, with their current async ids. */
  timers: PendingTimers<number>;
}

interface InFlight {
  owner: OwnerRecord;
  pending: number;
}

const byName = new Map<string, OwnerRecord>();
/** Async ids of owners' pending timers: their callbacks are owner activity. */
const timerIds = new Map<number, OwnerRecord>();
const byIndex = new Map<number, OwnerRecord>();
const inFlight = new Map<number, InFlight>();
const storage = new AsyncLocalStorage<OwnerRecord>();
const syncOwners: OwnerRecord[] = [];
/** Owners whose code Node is continuing (a dns.lookup callback): as if a frame of theirs were on the stack. */
const codeScopes: { owner: OwnerRecord | undefined; origin: Error | null }[] = [];
let tracking = false;
let suppressed = 0;
/** Inside a global agent's createConnection: what is born is the process's (shared), not only nobody's. */
let sharing = 0;
let resolveQueued = false;

/** The record of `owner`, created on first use (ids are per loop and permanent). */
export function ownerRecord(owner: string): OwnerRecord {
  let record = byName.get(owner);
  if (record === undefined) {
    const id = binding.ownerId(owner);
    // Fired and cleared timers are dropped when counted; an owner nobody
    // counts would keep them all, so the set also prunes itself as it grows.
    const timers = new PendingTimers<number>({ pruneAt: 64, onDrop: (asyncId) => timerIds.delete(asyncId) });
    record = { id, name: owner, requests: 0, timers };
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

const TIMERS = new Set(['Timeout', 'Immediate']);

/** Whether uv-drain counts resources of this async type for their owner. */
function counted(type: string): boolean {
  return ONE_SHOT_REQUESTS.has(type) || type === 'ZLIB' || type.endsWith('REQUEST');
}

/**
 * The owner of a handle, timer or request being born, by precedence: no one
 * while uv-drain suppresses attribution or the code on the stack is Node's
 * own shared machinery; then an explicit withOwner() scope; then the
 * innermost frame of a loaded module's code (code-owners.ts); then, with
 * tracking, the owner of the resource whose callback is running (a server
 * accepting a connection, an owned request's or timer's callback), the
 * trigger's, and last the async context.
 */
function ownerAtBirth(type: string, triggerAsyncId: number, isHandle: boolean): OwnerRecord | undefined | typeof NODE {
  if (suppressed > 0) return undefined;
  const timer = TIMERS.has(type);
  if (!isHandle && !timer && !counted(type)) return undefined;
  const explicit = syncOwners.length > 0 ? syncOwners[syncOwners.length - 1] : undefined;
  const store = tracking ? storage.getStore() : undefined;
  // The stack is read only when it can change the answer (a stack capture
  // costs microseconds): modules with code roots are loaded, or the birth
  // would be someone's and may be Node's own.
  const read = hasCodeRoots() || ((isHandle || timer) && (explicit !== undefined || store !== undefined));
  let byCode = read ? ownerByCode<OwnerRecord>(onInit, timer, isHandle) : undefined;
  if (byCode === NODE) return NODE;
  if (explicit !== undefined) return explicit;
  byCode ??= codeScopes[codeScopes.length - 1]?.owner;
  if (byCode !== undefined) return byCode;
  if (!tracking) return undefined;
  const running = executionAsyncId();
  return (
    resourceOwners.get(running) ??
    timerIds.get(running) ??
    inFlight.get(running)?.owner ??
    resourceOwners.get(triggerAsyncId) ??
    store
  );
}

// A connection accepted by a server is born in libuv's callback, outside any
// async context of the server's code; Node gives it the server as its
// trigger and runs the callback as the server. So owned handles remember
// their owner by async id, until the handle's wrap is garbage collected.
const resourceOwners = new Map<number, OwnerRecord>();
const forgetResource = new FinalizationRegistry<number>((asyncId) => resourceOwners.delete(asyncId));

const hook = createHook({ init: onInit });
// `after` runs for every callback and every promise reaction: it is off
// until something listens (an owner's request in flight, a drain watcher).
const afterHook = createHook({ after: onAfter });

function onInit(asyncId: number, type: string, triggerAsyncId: number, resource: object): void {
  const handle = handleTypes.get(type);
  const verdict = ownerAtBirth(type, triggerAsyncId, handle !== undefined);
  // A timer of Node's own machinery is nobody's and no one's leak.
  if (verdict === NODE && handle === undefined) return;
  const owner = verdict === NODE ? undefined : verdict;
  // Observers (creation stacks) see handles and timers only, DNS lookups
  // (a server listening on a host name is born in the lookup's callback) and
  // Workers (whose MessagePorts are the handles a Worker holds):
  // building a record for every promise would double the cost of tracking. What Node's
  // shared machinery makes is seen too, marked shared (no test's leak).
  const shared = sharing > 0 || verdict === NODE;
  if (
    birthObserver !== null &&
    (suppressed === 0 || shared) &&
    (handle !== undefined || type === 'Timeout' || type === 'Immediate' || type === 'GETADDRINFOREQWRAP' || type === 'WORKER')
  ) {
    observeBirth(asyncId, type, triggerAsyncId, resource, owner, handle, shared);
    return;
  }
  if (owner === undefined) {
    // An unowned spawn/watch still announces itself, so that an owned one
    // announced earlier whose spawn failed cannot take its handle.
    if (handle?.deferred === true) {
      binding.noteBirth(0, handle.type, true);
      queueResolve();
    }
    return;
  }
  countBirth(asyncId, type, resource, owner, handle);
}

function onAfter(asyncId: number): void {
  // Only owners' own callbacks count as activity: reacting to every
  // `after` would feed on itself (the reaction runs in a microtask, which
  // has an `after` of its own).
  if (activity !== null && (timerIds.has(asyncId) || inFlight.has(asyncId))) queueActivity();
  const entry = inFlight.get(asyncId);
  if (entry === undefined) return;
  entry.pending--;
  entry.owner.requests--;
  if (entry.pending === 0) inFlight.delete(asyncId);
  updateHook();
}

function countBirth(
  asyncId: number,
  type: string,
  resource: unknown,
  owner: OwnerRecord,
  handle: { type: number; deferred: boolean } | undefined,
): number {
  let seq = -1;
  if (handle !== undefined) {
    seq = binding.noteBirth(owner.id, handle.type, handle.deferred);
    queueResolve();
    if (tracking) {
      resourceOwners.set(asyncId, owner);
      forgetResource.register(resource as object, asyncId);
    }
  } else if (type === 'Timeout' || type === 'Immediate') {
    // A refreshed Timeout is announced again with a new async id.
    const previous = owner.timers.get(resource as object);
    if (previous !== undefined) timerIds.delete(previous);
    timerIds.set(asyncId, owner);
    owner.timers.set(resource as object, asyncId);
  } else if (ONE_SHOT_REQUESTS.has(type)) {
    beginRequest(asyncId, owner);
  } else if (type.endsWith('REQUEST')) {
    countCryptoJob(asyncId, owner, resource as { run?: (...args: unknown[]) => unknown });
  } else if (type === 'ZLIB') {
    countZlibWrites(asyncId, owner, resource as { write?: (...args: unknown[]) => unknown });
  }
  return seq;
}

/** What a birth observer learns about each async resource born (see setBirthObserver). */
export interface Birth {
  asyncId: number;
  triggerAsyncId: number;
  /** async_hooks type: 'TCPWRAP', 'Timeout', 'FSREQCALLBACK'... */
  type: string;
  resource: unknown;
  owner: string | null;
  /** For handle births: the sequence number the addon will report with the matched handle. */
  handleSeq: number;
  /** When Node is continuing a call of module code (a lookup's callback): the stack of that call. */
  origin: Error | null;
  /** Made by Node's shared machinery (a global agent's pooled socket, fetch's dispatcher): nobody's leak. */
  shared: boolean;
}

let birthObserver: ((birth: Birth) => void) | null = null;

/**
 * Sees every handle, Timeout and Immediate born (owned or not) while set; handle births are
 * matched to their uv handle natively (binding.takeMatches() gives
 * [handleSeq, address] pairs while matches are recorded). Used for creation
 * stacks. Node's lazily made stdio is still skipped.
 */
export function setBirthObserver(observer: ((birth: Birth) => void) | null): void {
  birthObserver = observer;
  binding.setRecordMatches(observer !== null);
  if (observer !== null) guardStdio(withoutOwner);
  updateHook();
}

function observeBirth(
  asyncId: number,
  type: string,
  triggerAsyncId: number,
  resource: unknown,
  owner: OwnerRecord | undefined,
  handle: { type: number; deferred: boolean } | undefined,
  shared: boolean,
): void {
  let handleSeq = -1;
  if (owner !== undefined) handleSeq = countBirth(asyncId, type, resource, owner, handle);
  else if (handle !== undefined) {
    handleSeq = binding.noteBirth(0, handle.type, handle.deferred);
    queueResolve();
  }
  const origin = codeScopes[codeScopes.length - 1]?.origin ?? null;
  birthObserver?.({ asyncId, triggerAsyncId, type, resource, owner: owner?.name ?? null, handleSeq, origin, shared });
}

function beginRequest(asyncId: number, owner: OwnerRecord): void {
  const entry = inFlight.get(asyncId);
  if (entry === undefined) inFlight.set(asyncId, { owner, pending: 1 });
  else entry.pending++;
  owner.requests++;
  if (!afterEnabled) updateHook();
}

// A zlib stream is one async resource for its whole life; each async write
// is one unit of thread-pool work that ends with a callback (`after`).
function countZlibWrites(
  asyncId: number,
  owner: OwnerRecord,
  handle: { write?: (...args: unknown[]) => unknown },
): void {
  const write = handle.write;
  if (typeof write !== 'function') return;
  handle.write = function countedWrite(this: unknown, ...args: unknown[]) {
    beginRequest(asyncId, owner);
    updateHook();
    return write.apply(this, args);
  };
}

// A crypto job is made the same way for fooSync() and foo(cb): only run()
// tells them apart — it returns the result of a synchronous job and nothing
// for an asynchronous one, which then ends with its callback (`after`).
function countCryptoJob(
  asyncId: number,
  owner: OwnerRecord,
  job: { run?: (...args: unknown[]) => unknown },
): void {
  const run = job.run;
  if (typeof run !== 'function') {
    beginRequest(asyncId, owner);
    return;
  }
  job.run = function countedRun(this: unknown, ...args: unknown[]) {
    const result = run.apply(this, args);
    if (result === undefined) {
      beginRequest(asyncId, owner);
      updateHook();
    }
    return result;
  };
}

function queueResolve(): void {
  if (resolveQueued) return;
  resolveQueued = true;
  queueMicrotask(() => {
    resolveQueued = false;
    binding.resolveBirths(true);
  });
}

// Drain watching listens to JS activity: after any JS callback (a timer
// fired, a request completed), owner code may have let go of something
// libuv cannot see (a JS timer, a JS request).
let activity: (() => void) | null = null;
let activityQueued = false;

export function setActivityListener(listener: (() => void) | null): void {
  activity = listener;
  updateHook();
}

function queueActivity(): void {
  if (activityQueued) return;
  activityQueued = true;
  queueMicrotask(() => {
    activityQueued = false;
    activity?.();
  });
}

let hookEnabled = false;
let afterEnabled = false;
function updateHook(): void {
  // Switched on the first time it is needed and kept while the init hook is
  // on: switching hooks reconfigures Node's promise hooks, too dear per request.
  if (!afterEnabled && (inFlight.size > 0 || activity !== null)) {
    afterEnabled = true;
    afterHook.enable();
  }
  const want =
    tracking ||
    syncOwners.length > 0 ||
    inFlight.size > 0 ||
    activity !== null ||
    birthObserver !== null ||
    hasCodeRoots();
  if (want === hookEnabled) return;
  hookEnabled = want;
  if (want) {
    shareGlobalAgents();
    continueLookups();
    hook.enable();
  } else {
    hook.disable();
    if (afterEnabled) {
      afterEnabled = false;
      afterHook.disable();
    }
  }
}

/**
 * Declares directories and files `owner`'s code (see code-owners.ts) until
 * the returned function is called.
 */
export function ownCode(owner: string, code: { dirs: string[]; files: string[] }): () => void {
  const release = addCodeRoots(ownerRecord(owner), code);
  updateHook();
  let released = false;
  return () => {
    if (released) return;
    released = true;
    release();
    updateHook();
  };
}

// Node's global http and https agents pool their sockets for the whole
// process (keep-alive is on by default): a socket one of them opens for
// some module's request is the agent's, reused by whoever asks next, so it
// is nobody's. An agent a module makes itself is the module's.
let agentsShared = false;
function shareGlobalAgents(): void {
  if (agentsShared) return;
  agentsShared = true;
  for (const agent of [http.globalAgent, https.globalAgent] as unknown as { createConnection?: unknown }[]) {
    const create = agent.createConnection;
    if (typeof create !== 'function') continue;
    agent.createConnection = function sharedConnection(this: unknown, ...args: unknown[]) {
      suppressed++;
      sharing++;
      try {
        return (create as (...a: unknown[]) => unknown).apply(this, args);
      } finally {
        sharing--;
        suppressed--;
      }
    };
  }
}

/**
 * Runs `fn` with `owner` current: every handle, JS timer and request born
 * while it runs synchronously is the owner's; with `trackOwners(true)`, so is
 * everything born in its async continuations. Returns what `fn` returns.
 */
export function withOwner<T>(owner: string, fn: () => T): T {
  checkOwner(owner);
  checkFunction(fn, 'fn');
  const record = ownerRecord(owner);
  guardStdio(withoutOwner);
  syncOwners.push(record);
  updateHook();
  const firstBirth = binding.nextBirth();
  try {
    return tracking ? storage.run(record, fn) : fn();
  } finally {
    syncOwners.pop();
    // Every handle fn made synchronously exists now; an announcement still
    // unmatched is a spawn or watch that threw before making its handle.
    binding.dropBirthsSince(firstBirth);
    updateHook();
  }
}

// Node makes some handles a tick after the call that asked for them:
// server.listen(port, host) and socket.connect(port, host) first resolve
// the host with dns.lookup (a request for a name, a nextTick for an IP
// literal), then make the server's handle or the connect request in the
// lookup's callback, where no frame of the caller is left. A lookup that
// module code asked for continues that module's code.
let lookupsContinued = false;
function continueLookups(): void {
  if (lookupsContinued) return;
  lookupsContinued = true;
  const original = dns.lookup as (...args: unknown[]) => unknown;
  const custom = (original as unknown as Record<symbol, unknown>)[promisify.custom];
  const lookup = function lookup(this: unknown, ...args: unknown[]): unknown {
    const last = args.length - 1;
    const callback = args[last];
    if (suppressed > 0 || typeof callback !== 'function') return original.apply(this, args);
    const byCode = hasCodeRoots() ? ownerByCode<OwnerRecord>(lookup, false) : undefined;
    if (byCode === NODE || (byCode === undefined && birthObserver === null)) return original.apply(this, args);
    const owner = byCode;
    // Creation stacks of what the callback makes point at the call (a
    // server listening on 127.0.0.1 is born in a nextTick of the lookup).
    const origin = birthObserver === null ? null : new Error('continued');
    args[last] = function continued(this: unknown, ...results: unknown[]) {
      codeScopes.push({ owner, origin });
      try {
        return (callback as (...a: unknown[]) => unknown).apply(this, results);
      } finally {
        codeScopes.pop();
      }
    };
    return original.apply(this, args);
  };
  if (custom !== undefined) Object.defineProperty(lookup, promisify.custom, { value: custom });
  (dns as { lookup: unknown }).lookup = lookup;
}

/**
 * Runs `fn` in `owner`'s async context (tracking must be on): how the
 * coordinator runs a module's hooks. Unlike withOwner it ranks below module
 * code on the stack, so that another loaded module's listener that `fn`
 * calls owns what that listener makes.
 */
export function asModule<T>(owner: string, fn: () => T): T {
  const record = ownerRecord(owner);
  guardStdio(withoutOwner);
  return storage.run(record, fn);
}

/**
 * Turns birth attribution in async continuations on or off (async_hooks and
 * AsyncLocalStorage; on Node 20 this slows promise-heavy code).
 */
export function trackOwners(enabled: boolean): void {
  checkBoolean(enabled, 'enabled');
  tracking = enabled;
  if (enabled) guardStdio(withoutOwner);
  updateHook();
}

export function isTracking(): boolean {
  return tracking;
}

/**
 * Runs `fn` as uv-drain's own: what it makes synchronously has no owner and
 * is not observed (no creation stack, no leak check sees it). For uv-drain's
 * timers (deadlines, a leak check's waits, the CLI's) and Node's lazily made
 * stdio; the one suppression mechanism.
 */
export function withoutOwner<T>(fn: () => T): T {
  suppressed++;
  try {
    return fn();
  } finally {
    suppressed--;
  }
}
