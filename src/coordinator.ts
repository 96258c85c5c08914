// The unload coordinator: cleanup event -> exact drain -> verified removal,
// and a graceful quit that lets the loop end by itself.
import { EventEmitter } from 'node:events';

import { countsFor, NODE_BINARY, snapshot, type HandleInfo, type OwnerCounts } from './accounting';
import { isDrained, updateJsState, watchOwner } from './drain';
import {
  ModuleExistsError,
  ModuleInitError,
  QuitError,
  QuittingError,
  UnknownModuleError,
  UnloadTimeoutError,
} from './errors';
import {
  checkModuleSpec,
  moduleCode,
  openModule,
  type DeinitAnswer,
  type LoadedModule,
  type ModuleCode,
  type ModuleSpec,
} from './modules';
import { callerFile } from './code-owners';
import { deadline, type Deadline } from './deadline';
import { DEFAULT_BUDGET_MS, type PacedPending } from './pacing';
import { keyOfId } from './records';
import { stackOf } from './stack-text';
import { handleCapture, retainStacks, takeMatches } from './stacks';
import { Unload, whatIsLeft } from './unload';
import { isTracking, trackOwners } from './owner-scopes';
import { checkBudget, checkObject, checkOwner, checkTimeout, describe } from './validate';
import { now } from './clock';

export interface CoordinatorOptions {
  /** Default deadline of unload() and quit(), in ms (default 30 000). */
  timeoutMs?: number;
  /**
   * Capture a creation stack for every handle and JS timer born while the
   * coordinator lives (until quit), so reports say where what is left was
   * made. Costs a stack capture per handle birth (default false).
   */
  stacks?: boolean;
  /**
   * Default budget of loop time per iteration, in ms, that the modules being
   * unloaded share for their paced wrap-up (JS: `ctx.yield()`, `ctx.paced()`;
   * C: `ctx->budget_left`, `ctx->continue_later`); Infinity: no pacing
   * (default 0.5).
   */
  budgetMs?: number;
}

/**
 * Where a JS module's code lies, so that what that code makes is the
 * module's even when someone else calls it (a listener, a request handler,
 * a callback handed to the host). Default for a file module: its package
 * root or directory (see the README); for an object module: none (the async
 * context decides).
 */
export interface LoadOptions {
  /** Directories holding the module's code (and its own dependencies). */
  root?: string | string[];
  /** Single files of the module's code. */
  files?: string[];
}

export interface UnloadOptions {
  /** Reject with UnloadTimeoutError after this many ms; the module then stays loaded. */
  timeoutMs?: number;
  /** This unload's budget of loop time per iteration, in ms (see CoordinatorOptions.budgetMs). */
  budgetMs?: number;
}

export interface QuitOptions {
  /** Deadline for the whole quit, in ms. */
  timeoutMs?: number;
  /** 'reverse' (default): one module at a time, last loaded first. 'parallel': all at once. */
  order?: 'reverse' | 'parallel';
  /** Budget of loop time per iteration of each unload, in ms (see CoordinatorOptions.budgetMs). */
  budgetMs?: number;
}

/** A handle a module still has on the loop; `stack` when the coordinator captures stacks. */
export type LeftHandle = Omit<HandleInfo, 'owner'> & { stack?: string | null };

export interface UnloadReport {
  name: string;
  kind: 'js' | 'native';
  /** True once the module was verified drained and removed. */
  removed: boolean;
  /** Whether cleanup has returned (or thrown); deinit is only called after. */
  cleanupReturned: boolean;
  /** What cleanup threw (the drain went on regardless). */
  cleanupError?: string;
  /** How often deinit was called, and its last answer. */
  deinitCalls: number;
  lastDeinit?: DeinitAnswer;
  /** Set when the module answered 'again' with nothing left, or 'done' while holding live handles. */
  stalled?: 'again-with-nothing-left' | 'done-but-holding';
  /** What the module still had on the loop when the report was made (empty once removed). */
  left: {
    counts: OwnerCounts;
    handles: LeftHandle[];
    /** Native modules: live handles whose callbacks lie inside the module's code. */
    callbacksInside: string[];
  };
  durationMs: number;
  /**
   * The unload's budget of loop time per iteration, in ms, and what the
   * module's paced work still had to do when the report was made (after a
   * deadline, what goes on while the module stays loaded).
   */
  pacing: { budgetMs: number } & PacedPending;
  /**
   * Loop iterations, as the drain watcher counts them: when the owner's
   * accounting last changed or deinit last settled, and when the module was
   * removed (set once removed). The difference is how long removal lagged.
   */
  iterations?: { lastChange: number; removed: number };
}

export interface QuitReport {
  /** One report per module, in the order they were unloaded. */
  modules: UnloadReport[];
  /** Modules that could not be removed, and why. */
  failed: { name: string; error: Error }[];
  /**
   * Live, active, referenced handles of no module: why the process would not
   * exit now (with `stack` when the coordinator captures stacks).
   */
  holding: (HandleInfo & { stack?: string | null })[];
}

interface Entry {
  name: string;
  module: LoadedModule;
  unloading?: Promise<UnloadReport>;
}

/**
 * Loads modules as owners and unloads them without blocking the loop: sends
 * the cleanup event, watches the owner drain at every loop iteration, calls
 * deinit when its accounting changes, and removes the module only once
 * deinit said 'done' and the owner has no handle (closing ones included),
 * no request and no timer left.
 *
 * Events: 'load' (name), 'cleanup' (name), 'drained' (name, counts),
 * 'unloaded' (report), 'stalled' (report), 'error' (error, name).
 */
export class UnloadCoordinator extends EventEmitter {
  readonly #timeoutMs: number;
  readonly #budgetMs: number;
  readonly #entries = new Map<string, Entry>();
  readonly #loading = new Map<string, Promise<unknown>>();
  #quitting: Promise<QuitReport> | undefined;
  #trackingBefore: boolean | undefined;
  #releaseStacks: (() => void) | undefined;

  constructor(options: CoordinatorOptions = {}) {
    super();
    checkObject(options, 'options');
    this.#timeoutMs = options.timeoutMs === undefined ? 30_000 : checkTimeout(options.timeoutMs, 'timeoutMs');
    this.#budgetMs = options.budgetMs === undefined ? DEFAULT_BUDGET_MS : checkBudget(options.budgetMs, 'budgetMs');
    if (options.stacks !== undefined && typeof options.stacks !== 'boolean') {
      throw new TypeError(`The "stacks" option must be a boolean, received ${describe(options.stacks)}`);
    }
    if (options.stacks === true) this.#releaseStacks = retainStacks();
  }

  /** Names of the loaded modules, in load order. */
  get names(): string[] {
    return [...this.#entries.keys()];
  }

  has(name: string): boolean {
    checkOwner(name, 'name');
    return this.#entries.has(name);
  }

  /**
   * Registers `module` under owner tag `name` and runs its init as that
   * owner (owner tracking is turned on). If init fails the module is not
   * registered and the error's report lists what it left on the loop.
   */
  async load(name: string, module: ModuleSpec, options: LoadOptions = {}): Promise<void> {
    checkOwner(name, 'name');
    checkModuleSpec(module);
    const caller = callerFile(this.load);
    const code = checkLoadOptions(module, options, caller === undefined ? [] : [caller]);
    if (this.#quitting !== undefined) throw new QuittingError(name);
    if (this.#entries.has(name) || this.#loading.has(name)) throw new ModuleExistsError(name);
    const loading = this.#load(name, module, code);
    this.#loading.set(name, loading);
    try {
      await loading;
    } finally {
      this.#loading.delete(name);
    }
  }

  async #load(name: string, module: ModuleSpec, code: ModuleCode): Promise<void> {
    if (this.#trackingBefore === undefined) this.#trackingBefore = isTracking();
    trackOwners(true);
    let loaded: LoadedModule;
    try {
      loaded = await openModule(name, module, code);
    } catch (error) {
      // dlopen, symbol and ABI errors carry their own code and text: nothing
      // of the module ran.
      if (typeof (error as { code?: unknown }).code === 'string' && /^UVD_ERR_|^ERR_/.test((error as { code: string }).code)) {
        throw error;
      }
      // A file whose top-level code threw: whatever it made is listed.
      const handles = snapshot().filter((h) => h.owner === name);
      const report: UnloadReport = {
        name,
        kind: 'js',
        removed: false,
        cleanupReturned: false,
        deinitCalls: 0,
        left: { counts: countsFor(name), handles: handles.map(({ owner: _o, ...h }) => h), callbacksInside: [] },
        durationMs: 0,
        pacing: { budgetMs: this.#budgetMs, waiting: 0, itemsLeft: 0 },
      };
      throw new ModuleInitError(name, report, error);
    }
    try {
      await loaded.init();
    } catch (error) {
      this.#removeWhenDrained(name, loaded);
      const report: UnloadReport = {
        name,
        kind: loaded.kind,
        removed: false,
        cleanupReturned: false,
        deinitCalls: 0,
        left: whatIsLeft(name, loaded, this.#releaseStacks !== undefined),
        durationMs: 0,
        pacing: { budgetMs: this.#budgetMs, ...loaded.pacedPending() },
      };
      throw new ModuleInitError(name, report, error);
    }
    this.#entries.set(name, { name, module: loaded });
    this.emit('load', name);
  }

  /**
   * Sends the cleanup event to `name`, waits for it to drain and removes
   * it. Resolves with the report; rejects with UnloadTimeoutError (module
   * kept) or ModuleDeinitError (module kept). A second call while the
   * module is unloading returns the same promise.
   */
  unload(name: string, options: UnloadOptions = {}): Promise<UnloadReport> {
    let timeoutMs: number;
    let budgetMs: number;
    try {
      checkOwner(name, 'name');
      checkObject(options, 'options');
      timeoutMs = options.timeoutMs === undefined ? this.#timeoutMs : checkTimeout(options.timeoutMs, 'timeoutMs');
      budgetMs = options.budgetMs === undefined ? this.#budgetMs : checkBudget(options.budgetMs, 'budgetMs');
    } catch (error) {
      return Promise.reject(error);
    }
    const entry = this.#entries.get(name);
    if (entry === undefined) return Promise.reject(new UnknownModuleError(name));
    if (entry.unloading !== undefined) return entry.unloading;
    const unloading = this.#unload(entry, timeoutMs, budgetMs);
    entry.unloading = unloading;
    const forget = () => {
      if (entry.unloading === unloading) entry.unloading = undefined;
    };
    unloading.then(forget, forget);
    return unloading;
  }

  /**
   * Unloads every module (reverse load order by default), then lets go of
   * the coordinator's own handles and restores owner tracking. Never calls
   * process.exit or stops the loop: the process ends by itself once nothing
   * else holds it. The report's `holding` lists what still would.
   */
  quit(options: QuitOptions = {}): Promise<QuitReport> {
    let timeoutMs: number;
    let budgetMs: number;
    try {
      checkObject(options, 'options');
      if (options.order !== undefined && options.order !== 'reverse' && options.order !== 'parallel') {
        throw new TypeError(`The "order" option must be 'reverse' or 'parallel', received ${describe(options.order)}`);
      }
      timeoutMs = options.timeoutMs === undefined ? this.#timeoutMs : checkTimeout(options.timeoutMs, 'timeoutMs');
      budgetMs = options.budgetMs === undefined ? this.#budgetMs : checkBudget(options.budgetMs, 'budgetMs');
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#quitting !== undefined) return this.#quitting;
    this.#quitting = this.#quit(timeoutMs, options.order ?? 'reverse', budgetMs);
    return this.#quitting;
  }

  async #quit(timeoutMs: number, order: 'reverse' | 'parallel', budgetMs: number): Promise<QuitReport> {
    const endsAt = now() + timeoutMs;
    // Let loads already under way finish first, so that none slips past —
    // but not past the deadline.
    if (this.#loading.size > 0) {
      let expiry: Deadline | undefined;
      await Promise.race([
        Promise.allSettled(this.#loading.values()),
        new Promise<void>((resolve) => {
          expiry = deadline(timeoutMs, resolve);
        }),
      ]);
      expiry?.cancel();
    }
    const report: QuitReport = { modules: [], failed: [], holding: [] };
    let timedOut = false;
    // Unloads already under way are awaited, not started again.
    const underWay = new Map(this.names.map((n) => [n, this.#entries.get(n)?.unloading]));
    const unloadOne = async (name: string) => {
      const inFlight = underWay.get(name);
      if (!this.#entries.has(name)) {
        if (inFlight === undefined) return;
        try {
          report.modules.push(await inFlight);
        } catch (error) {
          if (error instanceof UnloadTimeoutError) timedOut = true;
          report.failed.push({ name, error: error as Error });
        }
        return;
      }
      const remaining = endsAt - now();
      if (remaining < 1) {
        // Past the deadline: no cleanup event is sent any more.
        timedOut = true;
        report.failed.push({ name, error: new UnloadTimeoutError(`not unloaded: the quit deadline had passed`, undefined) });
        return;
      }
      try {
        report.modules.push(await this.unload(name, { timeoutMs: remaining, budgetMs }));
      } catch (error) {
        if (error instanceof UnloadTimeoutError) timedOut = true;
        report.failed.push({ name, error: error as Error });
        const partial = (error as { report?: UnloadReport }).report;
        if (partial !== undefined) report.modules.push(partial);
      }
    };
    const names = this.names.reverse();
    if (order === 'parallel') await Promise.all(names.map(unloadOne));
    else for (const name of names) await unloadOne(name);

    if (this.#trackingBefore !== undefined) trackOwners(this.#trackingBefore);
    this.#trackingBefore = undefined;
    const stacks = this.#releaseStacks !== undefined;
    if (stacks) takeMatches();
    report.holding = snapshot()
      .filter((h) => h.active && h.ref && !h.closing && (h.owner === null || !this.#entries.has(h.owner)))
      // Node's idle handle is active while immediates are queued (its own
      // native ones too: Node-API finalizers after a GC); they run in this
      // iteration's check phase, nothing that holds the process.
      .filter((h) => !(h.type === 'idle' && h.owner === null && h.module === NODE_BINARY))
      .map((h) => (stacks ? { ...h, stack: stackOf(handleCapture(keyOfId(h.id))) } : h));
    this.#releaseStacks?.();
    this.#releaseStacks = undefined;
    if (timedOut) throw new UnloadTimeoutError(`quit did not finish within ${timeoutMs} ms`, report);
    if (report.failed.length > 0) {
      const names = report.failed.map((f) => f.name).join(', ');
      throw new QuitError(`quit could not remove ${report.failed.length} module(s): ${names}`, report);
    }
    return report;
  }

  #unload(entry: Entry, timeoutMs: number, budgetMs: number): Promise<UnloadReport> {
    const { name, module } = entry;
    return new Unload(name, module, timeoutMs, {
      remove: () => this.#entries.delete(name),
      emit: (event, ...args) => this.emit(event, ...args),
      error: (error) => this.#emitError(error, name),
      stacks: this.#releaseStacks !== undefined,
      budgetMs,
    }).promise;
  }

  // A module whose init failed is not registered, but its code stays until
  // nothing of it is left (a native module is only closed then).
  #removeWhenDrained(name: string, module: LoadedModule): void {
    // As in an unload: once the owner is drained, a handle of someone else
    // calling into the module is looked at again at every iteration.
    let calledIntoByOthers = false;
    watchOwner(
      name,
      (counts) => {
        const before = calledIntoByOthers;
        calledIntoByOthers = isDrained(counts) && module.callbacksInside().length > 0;
        if (calledIntoByOthers !== before) updateJsState();
        if (!isDrained(counts) || calledIntoByOthers) return false;
        try {
          module.remove();
        } catch (error) {
          this.#emitError(error, name);
        }
        return true;
      },
      { everyIteration: () => calledIntoByOthers },
    );
  }

  #emitError(error: unknown, name: string): void {
    if (this.listenerCount('error') > 0) this.emit('error', error, name);
  }
}

function checkLoadOptions(module: ModuleSpec, options: LoadOptions, hostFiles: string[]): ModuleCode {
  checkObject(options, 'options');
  const paths = (value: unknown, what: string, single: boolean): void => {
    const list = single && typeof value === 'string' ? [value] : value;
    if (value === undefined) return;
    if (!Array.isArray(list) || list.some((p) => typeof p !== 'string' || p.length === 0)) {
      const shape = single ? 'a non-empty path or an array of them' : 'an array of non-empty paths';
      throw new TypeError(`The "${what}" option must be ${shape}, received ${describe(value)}`);
    }
  };
  paths(options.root, 'root', true);
  paths(options.files, 'files', false);
  if (typeof module === 'object' && 'native' in module && (options.root !== undefined || options.files !== undefined)) {
    throw new TypeError('The "root" and "files" options are for JS modules (a native module tags its own handles)');
  }
  return moduleCode(module, options, hostFiles);
}
