// uv-drain: know exactly when a piece of a Node.js process has let go of the
// libuv event loop.
import { binding, type CApi } from './native';

export { snapshot, stats, countsFor, countsByOwner } from './accounting';
export type { HandleInfo, LoopStats, OwnerCounts } from './accounting';
export { withOwner, trackOwners } from './owner-scopes';
export { whenDrained } from './drain';
export type { DrainOptions, DrainResult } from './drain';
export * from './errors';
export { UnloadCoordinator } from './coordinator';
export type {
  CoordinatorOptions,
  LoadOptions,
  UnloadOptions,
  QuitOptions,
  UnloadReport,
  QuitReport,
  LeftHandle,
} from './coordinator';
export { leakCheck, formatLeakReport } from './leaks';
export type { LeakCheck, LeakCheckOptions, LeakReport, Leak, LeakedHandle, LeakedTimer, FormatOptions } from './leaks';
export type { JsModule, ModuleContext, ModuleSpec, NativeModuleSpec, DeinitAnswer } from './modules';
export { DEFAULT_BUDGET_MS } from './pacing';
export type { PacedPending } from './pacing';
export type { CApi } from './native';

/** The C API table for native code (see native/include/uv_drain.h). */
export const capi: CApi = binding.capi;

/** What the running libuv lets uv-drain do. */
export const capabilities: Readonly<{
  uvVersion: string;
  tagging: boolean;
  /** `HandleInfo.module` can be known: the shared object a handle's callback lives in (libuv 1.44 to 1.52). */
  modules: boolean;
  capiVersion: number;
}> = Object.freeze({ ...binding.capabilities });
