// Where Node's own code stands between a module and what it makes, two
// wrappers put the module back in the picture (or take it out): a global
// agent's pooled socket is the process's, and a DNS lookup module code asked
// for continues that module's code in its callback.
import dns = require('node:dns');
import * as http from 'node:http';
import * as https from 'node:https';
import { promisify } from 'node:util';

import { state } from './birth-state';
import { hasCodeRoots, NODE, ownerByCode } from './code-owners';
import type { OwnerRecord } from './owners';

// Node's global http and https agents pool their sockets for the whole
// process (keep-alive is on by default): a socket one of them opens for
// some module's request is the agent's, reused by whoever asks next, so it
// is nobody's. An agent a module makes itself is the module's.
let agentsShared = false;
export function shareGlobalAgents(): void {
  if (agentsShared) return;
  agentsShared = true;
  for (const agent of [http.globalAgent, https.globalAgent] as unknown as { createConnection?: unknown }[]) {
    const create = agent.createConnection;
    if (typeof create !== 'function') continue;
    agent.createConnection = function sharedConnection(this: unknown, ...args: unknown[]) {
      state.suppressed++;
      state.sharing++;
      try {
        return (create as (...a: unknown[]) => unknown).apply(this, args);
      } finally {
        state.sharing--;
        state.suppressed--;
      }
    };
  }
}

// Node makes some handles a tick after the call that asked for them:
// server.listen(port, host) and socket.connect(port, host) first resolve
// the host with dns.lookup (a request for a name, a nextTick for an IP
// literal), then make the server's handle or the connect request in the
// lookup's callback, where no frame of the caller is left. A lookup that
// module code asked for continues that module's code.
let lookupsContinued = false;
export function continueLookups(): void {
  if (lookupsContinued) return;
  lookupsContinued = true;
  const original = dns.lookup as (...args: unknown[]) => unknown;
  const custom = (original as unknown as Record<symbol, unknown>)[promisify.custom];
  const lookup = function lookup(this: unknown, ...args: unknown[]): unknown {
    const last = args.length - 1;
    const callback = args[last];
    if (state.suppressed > 0 || typeof callback !== 'function') return original.apply(this, args);
    const byCode = hasCodeRoots() ? ownerByCode<OwnerRecord>(lookup, false) : undefined;
    if (byCode === NODE || (byCode === undefined && state.observer === null)) return original.apply(this, args);
    const owner = byCode;
    // Creation stacks of what the callback makes point at the call (a
    // server listening on 127.0.0.1 is born in a nextTick of the lookup).
    const origin = state.observer === null ? null : new Error('continued');
    args[last] = function continued(this: unknown, ...results: unknown[]) {
      state.continuing.push({ owner, origin });
      try {
        return (callback as (...a: unknown[]) => unknown).apply(this, results);
      } finally {
        state.continuing.pop();
      }
    };
    return original.apply(this, args);
  };
  if (custom !== undefined) Object.defineProperty(lookup, promisify.custom, { value: custom });
  (dns as { lookup: unknown }).lookup = lookup;
}
