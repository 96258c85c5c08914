// Every error uv-drain throws or rejects with carries a stable `code`.
import type { LeakReport } from './leaks';

export class UvDrainError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** whenDrained() gave up: the owner still has something on the loop. */
export class DrainTimeoutError extends UvDrainError {
  constructor(
    readonly owner: string,
    readonly left: unknown,
  ) {
    super('UVD_ERR_DRAIN_TIMEOUT', `owner "${owner}" did not drain in time`);
  }
}

/** unload() or quit() hit its deadline; nothing was removed unsafely. `report` says what is left. */
export class UnloadTimeoutError extends UvDrainError {
  constructor(
    message: string,
    readonly report: unknown,
  ) {
    super('UVD_ERR_UNLOAD_TIMEOUT', message);
  }
}

export class UnknownModuleError extends UvDrainError {
  constructor(readonly moduleName: string) {
    super('UVD_ERR_UNKNOWN_MODULE', `no module named "${moduleName}" is loaded`);
  }
}

export class ModuleExistsError extends UvDrainError {
  constructor(readonly moduleName: string) {
    super('UVD_ERR_MODULE_EXISTS', `a module named "${moduleName}" is already loaded`);
  }
}

export class QuittingError extends UvDrainError {
  constructor(readonly moduleName: string) {
    super('UVD_ERR_QUITTING', `cannot load "${moduleName}": the coordinator is quitting`);
  }
}

/** A module's init failed: it was not registered; `report` lists what it left on the loop. */
export class ModuleInitError extends UvDrainError {
  constructor(
    readonly moduleName: string,
    readonly report: unknown,
    cause: unknown,
  ) {
    super('UVD_ERR_MODULE_INIT', `init of module "${moduleName}" failed: ${messageOf(cause)}`, { cause });
  }
}

/** A module's deinit threw (or a C module's returned an error): the module stays loaded. */
export class ModuleDeinitError extends UvDrainError {
  constructor(
    readonly moduleName: string,
    readonly report: unknown,
    cause: unknown,
  ) {
    super('UVD_ERR_MODULE_DEINIT', `deinit of module "${moduleName}" failed: ${messageOf(cause)}`, { cause });
  }
}

/** quit() could not remove every module; `report` says which and why. */
export class QuitError extends UvDrainError {
  constructor(
    message: string,
    readonly report: unknown,
  ) {
    super('UVD_ERR_QUIT', message);
  }
}

/** A leak check found handles or JS timers left behind: `report` says which. */
export class LeakError extends UvDrainError {
  constructor(
    message: string,
    readonly report: LeakReport,
  ) {
    super('UVD_ERR_LEAK', message);
  }
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
