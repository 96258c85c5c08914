// Check scopes: which leak check a handle or timer belongs to, by async context.
//
// A leak check's run(fn) runs fn inside the check's scope; what is born there
// — synchronously, in its awaits, and in callbacks of what it made (a
// server's connections, a response handler's timers: Node runs them in the
// async context their resource was made in) — carries the scope in its
// capture (stacks.ts). Concurrent tests each run in their own scope, so a
// server a slow test leaks is that test's, whichever test ends first.
//
// One exception: a socket a connection pool opens is the pool's, whoever
// asked for it. Pools are http.Agent (https.Agent and subclasses) and
// undici-style dispatchers (an EventEmitter with dispatch(), close() and
// destroy(): undici's Agent, Pool and Client, fetch's dispatcher). A pool's socket gets
// the scope the pool was made in — a keep-alive agent from beforeAll: the
// block's; one made while a test file is collected: the collection's — while
// its callbacks keep the asker's async context. The process's global
// dispatcher (fetch's; npm undici installs its own there on import) and a
// pool made before uv-drain watched (Node's global agents) are no check's:
// their sockets are marked shared.
import { AsyncLocalStorage } from 'node:async_hooks';
import { EventEmitter } from 'node:events';
import http = require('node:http');

/** A check's scope: an identity, and a name for messages. */
export interface Scope {
  readonly name: string;
}

/** Where a pool was made: what its sockets belong to. */
export interface PoolOrigin {
  readonly scope: Scope | null;
  /** The birth epoch (stacks.ts) at the pool's creation: a pool made while a file was collected is the collection's. */
  readonly epoch: number;
  /** The process's pool (fetch's global dispatcher, a pool made before uv-drain watched): nobody's leak. */
  readonly shared: boolean;
}

const storage = new AsyncLocalStorage<Scope>();
const SHARED: PoolOrigin = { scope: null, epoch: Infinity, shared: true };
/** Inside a pool's createSocket / dispatch: the pool's origin. */
let pooling: PoolOrigin | null = null;

/** The pool whose socket is being born now, if any. */
export function poolAtBirth(): PoolOrigin | null {
  return pooling;
}

/** The scope of the running code, or null. */
export function currentScope(): Scope | null {
  return storage.getStore() ?? null;
}

/** Runs `fn` inside `scope`: what it makes, now and in its async continuations, is the scope's. */
export function runInScope<T>(scope: Scope, fn: () => T): T {
  return storage.run(scope, fn);
}

const origins = new WeakMap<object, PoolOrigin>();
let epochs: () => number = () => 0;

function originHere(): PoolOrigin {
  return pooling ?? { scope: currentScope(), epoch: epochs(), shared: false };
}

function originOf(pool: object): PoolOrigin {
  const known = origins.get(pool);
  if (known === undefined || isGlobalDispatcher(pool)) return SHARED;
  return known;
}

const GLOBAL_DISPATCHERS = [Symbol.for('undici.globalDispatcher.1'), Symbol.for('undici.globalDispatcher.2')];
function isGlobalDispatcher(pool: object): boolean {
  const global = globalThis as Record<symbol, unknown>;
  return GLOBAL_DISPATCHERS.some((symbol) => global[symbol] === pool);
}

/** Runs a pool's method with the pool's origin current (the outermost pool decides). */
function asPool<A extends unknown[], R>(method: (...args: A) => R): (this: object, ...args: A) => R {
  return function pooled(this: object, ...args: A): R {
    if (pooling !== null) return method.apply(this, args);
    pooling = originOf(this);
    try {
      return method.apply(this, args);
    } finally {
      pooling = null;
    }
  };
}

/** undici's Dispatcher interface: dispatch(), close() and destroy(). */
function isDispatcher(value: unknown): value is { dispatch: (...a: unknown[]) => unknown } {
  if (typeof value !== 'object' || value === null) return false;
  const d = value as Record<string, unknown>;
  return typeof d.dispatch === 'function' && typeof d.close === 'function' && typeof d.destroy === 'function';
}

let watched = false;
/**
 * Starts recording where every pool is made (stacks.ts calls it when
 * tracking starts, with its birth epochs).
 */
export function watchPools(birthEpochs: () => number): void {
  if (watched) return;
  watched = true;
  epochs = birthEpochs;
  // Node's Agent constructor assigns `this.freeSockets` (every version
  // uv-drain supports), which reaches this setter on the prototype once per
  // agent, subclasses included.
  const proto = http.Agent.prototype as unknown as Record<string, unknown>;
  if (Object.getOwnPropertyDescriptor(proto, 'freeSockets') === undefined && typeof proto.createSocket === 'function') {
    Object.defineProperty(proto, 'freeSockets', {
      configurable: true,
      set(this: object, value: unknown) {
        origins.set(this, originHere());
        Object.defineProperty(this, 'freeSockets', { value, writable: true, enumerable: true, configurable: true });
      },
    });
    proto.createSocket = asPool(proto.createSocket as (...args: unknown[]) => unknown);
  }
  // A dispatcher is an EventEmitter: its constructor reaches EventEmitter.init
  // (looked up on each call) with the prototype already in place.
  const emitter = EventEmitter as unknown as { init: (this: unknown, ...args: unknown[]) => unknown };
  const init = emitter.init;
  emitter.init = function init_(this: unknown, ...args: unknown[]) {
    if (isDispatcher(this) && !origins.has(this)) {
      origins.set(this, originHere());
      const dispatch = (this as { dispatch: (...a: unknown[]) => unknown }).dispatch;
      Object.defineProperty(this, 'dispatch', { value: asPool(dispatch), writable: true, configurable: true, enumerable: false });
    }
    return init.apply(this, args);
  };
}
