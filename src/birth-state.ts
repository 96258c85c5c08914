// What birth attribution reads, in one place: the scopes that say whose a
// handle, timer or request being born is (births.ts applies them in order),
// set by owner-scopes.ts (withOwner, trackOwners), node-continuations.ts
// (Node's shared agents, DNS continuations) and withoutOwner below.
import { AsyncLocalStorage } from 'node:async_hooks';

import type { OwnerRecord } from './owners';
import type { Birth } from './births';

export const state = {
  /** trackOwners(true): async continuations inherit their owner. */
  tracking: false,
  /** withoutOwner() depth: what is born is uv-drain's own, neither attributed nor observed. */
  suppressed: 0,
  /** Inside a global agent's createConnection: what is born is the process's (shared), not only nobody's. */
  sharing: 0,
  /** withOwner() scopes, innermost last. */
  explicit: [] as OwnerRecord[],
  /** Owners whose code Node is continuing (a dns.lookup callback): as if a frame of theirs were on the stack. */
  continuing: [] as { owner: OwnerRecord | undefined; origin: Error | null }[],
  /** The owner of the async context (asModule, and withOwner while tracking). */
  context: new AsyncLocalStorage<OwnerRecord>(),
  /** Sees every birth while set (stacks.ts's creation stacks). */
  observer: null as ((birth: Birth) => void) | null,
  /** Set by madeFor(): the owner of what is born now, known without reading the stack. */
  certain: undefined as OwnerRecord | undefined,
};

/**
 * Runs `fn` making something uv-drain knows to be `owner`'s work (a paced
 * module's resume immediate): owned without reading the stack, which would
 * cost a capture per birth. `fn` must make nothing else.
 */
export function madeFor<T>(owner: OwnerRecord, fn: () => T): T {
  const outer = state.certain;
  state.certain = owner;
  try {
    return fn();
  } finally {
    state.certain = outer;
  }
}

/**
 * Runs `fn` as uv-drain's own: what it makes synchronously has no owner and
 * is not observed (no creation stack, no leak check sees it). For uv-drain's
 * timers (deadlines, a leak check's waits, the CLI's) and Node's lazily made
 * stdio; the one suppression mechanism.
 */
export function withoutOwner<T>(fn: () => T): T {
  state.suppressed++;
  try {
    return fn();
  } finally {
    state.suppressed--;
  }
}
