// The public ways to say whose code is running: withOwner (a synchronous
// scope), asModule (an async context, how the coordinator runs a module's
// hooks), trackOwners (async continuations inherit), and ownCode (a loaded
// module's directories and files). births.ts reads what they set.
import { state } from './birth-state';
import { updateHook } from './births';
import { addCodeRoots } from './code-owners';
import { binding } from './native';
import { ownerRecord } from './owners';
import { guardStdio } from './stdio';
import { checkBoolean, checkFunction, checkOwner } from './validate';

/**
 * Runs `fn` with `owner` current: every handle, JS timer and request born
 * while it runs synchronously is the owner's; with `trackOwners(true)`, so is
 * everything born in its async continuations. Returns what `fn` returns.
 */
export function withOwner<T>(owner: string, fn: () => T): T {
  checkOwner(owner);
  checkFunction(fn, 'fn');
  const record = ownerRecord(owner);
  guardStdio();
  state.explicit.push(record);
  updateHook();
  const firstBirth = binding.nextBirth();
  try {
    return state.tracking ? state.context.run(record, fn) : fn();
  } finally {
    state.explicit.pop();
    // Every handle fn made synchronously exists now; an announcement still
    // unmatched is a spawn or watch that threw before making its handle.
    binding.dropBirthsSince(firstBirth);
    updateHook();
  }
}

/**
 * Runs `fn` in `owner`'s async context (tracking must be on): how the
 * coordinator runs a module's hooks. Unlike withOwner it ranks below module
 * code on the stack, so that another loaded module's listener that `fn`
 * calls owns what that listener makes.
 */
export function asModule<T>(owner: string, fn: () => T): T {
  const record = ownerRecord(owner);
  guardStdio();
  return state.context.run(record, fn);
}

/**
 * Turns birth attribution in async continuations on or off (async_hooks and
 * AsyncLocalStorage; on Node 20 this slows promise-heavy code).
 */
export function trackOwners(enabled: boolean): void {
  checkBoolean(enabled, 'enabled');
  state.tracking = enabled;
  if (enabled) guardStdio();
  updateHook();
}

export function isTracking(): boolean {
  return state.tracking;
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
