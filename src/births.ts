// Owner attribution at birth: the async_hooks `init` hook, and which owner a
// handle, a JS timer or a JS request belongs to when it comes into being
// (ownerAtBirth has the rules, in the README's order).
//
// Node fires async_hooks `init` in a wrap's constructor, before the wrap
// creates its uv handle; libuv appends the new handle at the tail of the
// loop's handle queue. So `init` tells the addon "one handle of type T for
// owner O comes next", the addon puts a birth mark of its own at the tail and
// tags the first unclaimed handle of type T after it (native/loop_state.cc).
// Timers and requests have no handle of their own: owned-work.ts counts them.
import { createHook, executionAsyncId } from 'node:async_hooks';

import { state } from './birth-state';
import { hasCodeRoots, NODE, ownerByCode } from './code-owners';
import { binding } from './native';
import { continueLookups, shareGlobalAgents } from './node-continuations';
import {
  countWork,
  disableAfterHook,
  enableAfterHookIfNeeded,
  isCountedRequest,
  onWorkChange,
  TIMER_TYPES,
  workNeedsHooks,
  workOwner,
} from './owned-work';
import type { OwnerRecord } from './owners';
import { guardStdio } from './stdio';

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

type HandleBirth = { type: number; deferred: boolean };

const uvTypeIndex = new Map(binding.typeNames.map((name, index) => [name, index]));
const handleTypes = new Map<string, HandleBirth>(
  Object.entries(HANDLE_RESOURCES).map(([resource, { uv, deferred }]) => [
    resource,
    { type: uvTypeIndex.get(uv) ?? 0, deferred },
  ]),
);

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

const hook = createHook({ init: onInit });
let hookEnabled = false;
let resolveQueued = false;

// A connection accepted by a server is born in libuv's callback, outside any
// async context of the server's code; Node gives it the server as its
// trigger and runs the callback as the server. So owned handles remember
// their owner by async id, until the handle's wrap is garbage collected.
const resourceOwners = new Map<number, OwnerRecord>();
const forgetResource = new FinalizationRegistry<number>((asyncId) => resourceOwners.delete(asyncId));

onWorkChange(updateHook);

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
  if (state.suppressed > 0) return undefined;
  if (state.certain !== undefined) return state.certain;
  const timer = TIMER_TYPES.has(type);
  if (!isHandle && !timer && !isCountedRequest(type)) return undefined;
  const explicit = state.explicit.length > 0 ? state.explicit[state.explicit.length - 1] : undefined;
  const store = state.tracking ? state.context.getStore() : undefined;
  // The stack is read only when it can change the answer (a stack capture
  // costs microseconds): modules with code roots are loaded, or the birth
  // would be someone's and may be Node's own.
  const read = hasCodeRoots() || ((isHandle || timer) && (explicit !== undefined || store !== undefined));
  let byCode = read ? ownerByCode<OwnerRecord>(onInit, timer, isHandle) : undefined;
  if (byCode === NODE) return NODE;
  if (explicit !== undefined) return explicit;
  byCode ??= state.continuing[state.continuing.length - 1]?.owner;
  if (byCode !== undefined) return byCode;
  if (!state.tracking) return undefined;
  const running = executionAsyncId();
  return resourceOwners.get(running) ?? workOwner(running) ?? resourceOwners.get(triggerAsyncId) ?? store;
}

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
  const shared = state.sharing > 0 || verdict === NODE;
  if (
    state.observer !== null &&
    (state.suppressed === 0 || shared) &&
    (handle !== undefined || TIMER_TYPES.has(type) || type === 'GETADDRINFOREQWRAP' || type === 'WORKER')
  ) {
    observeBirth(asyncId, type, triggerAsyncId, resource, owner, handle, shared);
    return;
  }
  if (owner === undefined) {
    // An unowned spawn/watch still announces itself, so that an owned one
    // announced earlier whose spawn failed cannot take its handle.
    if (handle?.deferred === true) announceHandle(0, handle);
    return;
  }
  countBirth(asyncId, type, resource, owner, handle);
}

/** Counts an owned birth; for a handle, returns the sequence number of its announcement (else -1). */
function countBirth(asyncId: number, type: string, resource: unknown, owner: OwnerRecord, handle: HandleBirth | undefined): number {
  if (handle === undefined) {
    countWork(asyncId, type, resource, owner);
    return -1;
  }
  if (state.tracking) {
    resourceOwners.set(asyncId, owner);
    forgetResource.register(resource as object, asyncId);
  }
  return announceHandle(owner.id, handle);
}

/** Tells the addon a handle of this type comes next (owner id 0: nobody's); it is matched in a microtask. */
function announceHandle(ownerId: number, handle: HandleBirth): number {
  const seq = binding.noteBirth(ownerId, handle.type, handle.deferred);
  if (!resolveQueued) {
    resolveQueued = true;
    queueMicrotask(() => {
      resolveQueued = false;
      binding.resolveBirths(true);
    });
  }
  return seq;
}

/**
 * Sees every handle, Timeout and Immediate born (owned or not) while set; handle births are
 * matched to their uv handle natively (binding.takeMatches() gives
 * [handleSeq, address] pairs while matches are recorded). Used for creation
 * stacks. Node's lazily made stdio is still skipped.
 */
export function setBirthObserver(observer: ((birth: Birth) => void) | null): void {
  state.observer = observer;
  binding.setRecordMatches(observer !== null);
  if (observer !== null) guardStdio();
  updateHook();
}

function observeBirth(
  asyncId: number,
  type: string,
  triggerAsyncId: number,
  resource: unknown,
  owner: OwnerRecord | undefined,
  handle: HandleBirth | undefined,
  shared: boolean,
): void {
  let handleSeq = -1;
  if (owner !== undefined) handleSeq = countBirth(asyncId, type, resource, owner, handle);
  else if (handle !== undefined) handleSeq = announceHandle(0, handle);
  const origin = state.continuing[state.continuing.length - 1]?.origin ?? null;
  state.observer?.({ asyncId, triggerAsyncId, type, resource, owner: owner?.name ?? null, handleSeq, origin, shared });
}

/** Turns the hooks on while anything needs them, off when nothing does. */
export function updateHook(): void {
  enableAfterHookIfNeeded();
  const want =
    state.tracking || state.explicit.length > 0 || workNeedsHooks() || state.observer !== null || hasCodeRoots();
  if (want === hookEnabled) return;
  hookEnabled = want;
  if (want) {
    shareGlobalAgents();
    continueLookups();
    hook.enable();
  } else {
    hook.disable();
    disableAfterHook();
  }
}
