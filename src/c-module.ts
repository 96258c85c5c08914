// The C module binding (native/c_module.cc) as the rest of uv-drain uses it:
// native code gives handles as addresses (records.ts keys), and this is where
// they become the public ids, and where close()'s refusal becomes its error.
import { binding, type CModuleHandle, type CModuleHeld } from './native';
import { ADDRESS, idOf, keysOf } from './records';

export interface CModule {
  readonly abi: number;
  /** dlopen and checks (native/c_module.h); the owner must exist on this loop. */
  open(path: string, symbols: string, ownerId: number, ownerName?: string): CModuleHandle;
  init(h: CModuleHandle): number;
  cleanup(h: CModuleHandle): number;
  deinit(h: CModuleHandle): number;
  /** Ids of the live handles whose callbacks (or memory) lie inside the module. */
  callbacksInside(h: CModuleHandle): string[];
  /** Continuations the module asked for (ctx->continue_later) that have not run; 0 once closed. */
  pacedPending(h: CModuleHandle): number;
  /**
   * dlclose, or UVD_ERR_MODULE_BUSY (`ids`, `requests`, `continuations`,
   * `module`) while something of the module is on the loop.
   */
  close(h: CModuleHandle): void;
  path(h: CModuleHandle): string;
  name(h: CModuleHandle): string;
}

const c = binding.cmodule;

const idsOf = (handles: Float64Array): string[] => [...keysOf(handles, ADDRESS)].map(idOf);

// The native functions do not use `this`: they are handed on as they are.
export const cModule: CModule = {
  abi: c.abi,
  open: c.open,
  init: c.init,
  cleanup: c.cleanup,
  deinit: c.deinit,
  callbacksInside: (h) => idsOf(c.callbacksInside(h)),
  pacedPending: c.pacedPending,
  close(h) {
    const held = c.close(h);
    if (held !== undefined) throw busyError(c.name(h), idsOf(held.handles), held);
  },
  path: c.path,
  name: c.name,
};

function busyError(module: string, ids: string[], held: CModuleHeld): Error {
  const what: string[] = [];
  if (ids.length > 0) what.push(`${ids.length} live handle(s) calling into it (${ids.join(', ')})`);
  if (held.requests !== 0) what.push(`${held.requests} request(s) in flight`);
  if (held.continuations !== 0) what.push(`${held.continuations} continuation(s) pending`);
  else if (held.paced) what.push('the handles that ran its continuations still closing');
  return Object.assign(new Error(`uv-drain: module '${module}' cannot be unloaded yet: ${what.join(' and ')}`), {
    code: 'UVD_ERR_MODULE_BUSY',
    ids,
    requests: held.requests,
    continuations: held.continuations,
    module,
  });
}
