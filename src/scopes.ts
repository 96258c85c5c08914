// Check scopes: which leak check a handle or timer belongs to, by async context.
//
// A leak check's run(fn) runs fn inside the check's scope; what is born there
// — synchronously, in its awaits, and in callbacks of what it made (a
// server's connections, a response handler's timers: Node runs them in the
// async context their resource was made in) — carries the scope in its
// capture (stacks.ts). Concurrent tests each run in their own scope, so a
// server a slow test leaks is that test's, whichever test ends first.
//
// One exception: a socket an http.Agent opens for its pool is the pool's,
// whoever asked for it. It gets the scope the agent was made in (a keep-alive
// agent from beforeAll: the hook's; the global agents, made before any
// check: none), while its callbacks keep the asker's context.
import { AsyncLocalStorage } from 'node:async_hooks';
import http = require('node:http');

/** A check's scope: an identity, and a name for messages. */
export interface Scope {
  readonly name: string;
}

const storage = new AsyncLocalStorage<Scope>();
/** Inside an agent's createSocket: the agent's scope (or null: made before any check). */
let pooling: { scope: Scope | null } | null = null;

/** The scope a handle or timer born now belongs to, or null (born outside every check's run()). */
export function scopeAtBirth(): Scope | null {
  if (pooling !== null) return pooling.scope;
  return storage.getStore() ?? null;
}

/** The scope of the running code, or null. */
export function currentScope(): Scope | null {
  return storage.getStore() ?? null;
}

/** Runs `fn` inside `scope`: what it makes, now and in its async continuations, is the scope's. */
export function runInScope<T>(scope: Scope, fn: () => T): T {
  watchAgents();
  return storage.run(scope, fn);
}

// Agents get their scope when made: Node's Agent constructor assigns
// `this.freeSockets` (every version uv-drain supports), which reaches this
// setter on the prototype once per agent, subclasses included.
const agentScopes = new WeakMap<object, Scope | null>();
let agentsWatched = false;
/** Starts recording the scope of every http.Agent made from now on (stacks.ts calls it when tracking starts). */
export function watchAgents(): void {
  if (agentsWatched) return;
  agentsWatched = true;
  const proto = http.Agent.prototype as unknown as Record<string, unknown>;
  if (Object.getOwnPropertyDescriptor(proto, 'freeSockets') !== undefined) return;
  Object.defineProperty(proto, 'freeSockets', {
    configurable: true,
    set(this: object, value: unknown) {
      agentScopes.set(this, currentScope());
      Object.defineProperty(this, 'freeSockets', { value, writable: true, enumerable: true, configurable: true });
    },
  });
  const createSocket = proto.createSocket;
  if (typeof createSocket !== 'function') return;
  proto.createSocket = function pooledSocket(this: object, ...args: unknown[]) {
    // An agent made before uv-drain watched (the global ones) belongs to no check.
    const saved = pooling;
    pooling = { scope: agentScopes.get(this) ?? null };
    try {
      return (createSocket as (...a: unknown[]) => unknown).apply(this, args);
    } finally {
      pooling = saved;
    }
  };
}
