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
// the asker's code keeps its own async context. The process's global
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

// The async context holds a check's scope, or — inside a dispatcher's work —
// the dispatcher's origin.
const storage = new AsyncLocalStorage<Scope | PoolOrigin>();
const SHARED: PoolOrigin = { scope: null, epoch: Infinity, shared: true };
/** Inside an http.Agent's createSocket: the agent's origin. */
let pooling: PoolOrigin | null = null;

function isPool(store: Scope | PoolOrigin | undefined): store is PoolOrigin {
  return store !== undefined && 'epoch' in store;
}

/** The pool whose socket (or timer) is being born now, if any. */
export function poolAtBirth(): PoolOrigin | null {
  if (pooling !== null) return pooling;
  const store = storage.getStore();
  return isPool(store) ? store : null;
}

/** The scope of the running code, or null. */
export function currentScope(): Scope | null {
  const store = storage.getStore();
  return store === undefined || isPool(store) ? null : store;
}

/** Runs `fn` inside `scope`: what it makes, now and in its async continuations, is the scope's. */
export function runInScope<T>(scope: Scope, fn: () => T): T {
  return storage.run(scope, fn);
}

const origins = new WeakMap<object, PoolOrigin>();
let epochs: () => number = () => 0;

function originHere(): PoolOrigin {
  return poolAtBirth() ?? { scope: currentScope(), epoch: epochs(), shared: false };
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

// An http.Agent's socket is born synchronously in createSocket(), and Node
// runs the response's callbacks under the request's own async resource: the
// agent's origin is current for that call only. A dispatcher works on after
// dispatch() returns (a microtask resumes its queue, a closed connection is
// replaced from a socket's callback, its parser and ping timers start in
// them): its origin is the async context of its whole work. The caller's
// promise continuations (fetch's) keep the caller's context. The outermost
// pool decides.
function asAgent<A extends unknown[], R>(method: (...args: A) => R): (this: object, ...args: A) => R {
  return function pooled(this: object, ...args: A): R {
    if (poolAtBirth() !== null) return method.apply(this, args);
    pooling = originOf(this);
    try {
      return method.apply(this, args);
    } finally {
      pooling = null;
    }
  };
}

function asDispatcher<A extends unknown[], R>(method: (...args: A) => R): (this: object, ...args: A) => R {
  return function dispatch(this: object, ...args: A): R {
    if (poolAtBirth() !== null) return method.apply(this, args);
    return storage.run(originOf(this), () => method.apply(this, args));
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
    proto.createSocket = asAgent(proto.createSocket as (...args: unknown[]) => unknown);
  }
  // A dispatcher is an EventEmitter: its constructor reaches EventEmitter.init
  // (looked up on each call) with the prototype already in place.
  const emitter = EventEmitter as unknown as { init: (this: unknown, ...args: unknown[]) => unknown };
  const init = emitter.init;
  emitter.init = function init_(this: unknown, ...args: unknown[]) {
    if (isDispatcher(this) && !origins.has(this)) {
      origins.set(this, originHere());
      const dispatch = (this as { dispatch: (...a: unknown[]) => unknown }).dispatch;
      Object.defineProperty(this, 'dispatch', { value: asDispatcher(dispatch), writable: true, configurable: true, enumerable: false });
    }
    return init.apply(this, args);
  };
}
