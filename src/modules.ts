// The three kinds of module a coordinator can load, behind one shape:
// a JS object, a JS file (ES or CommonJS), or a native C shared object.
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

import { cModule } from './c-module';
import { binding, type CModuleHandle } from './native';
import { ModulePacer, type PacedPending } from './pacing';
import { asModule, ownCode } from './owner-scopes';
import { ownerRecord } from './owners';
import { describe } from './validate';

export type DeinitAnswer = 'done' | 'again';

/** What a JS module's hooks receive. */
export interface ModuleContext {
  /** The module's name, which is also its owner tag. */
  readonly name: string;
  /**
   * Paced wrap-up: resolves at once while the module's share of this loop
   * iteration's budget is not spent, else in a later iteration (after the
   * loop has polled for I/O). Outside an unload, or with `budgetMs:
   * Infinity`, it always resolves at once.
   */
  yield(): Promise<void>;
  /** Ms of the module's share of this iteration's budget left (0 once spent); Infinity when not paced. */
  budgetLeft(): number;
  /**
   * Runs `fn` over `items` in budgeted slices: `await ctx.yield()` between
   * items, so at least one item per iteration. A promise `fn` returns is
   * awaited before the next item. Resolves once every item is done.
   */
  paced<T>(items: Iterable<T>, fn: (item: T, index: number) => unknown): Promise<void>;
}

/** A JS module: any of the three hooks, each may be async. */
export interface JsModule {
  init?(ctx: ModuleContext): unknown;
  cleanup?(ctx: ModuleContext): unknown;
  /** 'done' when the module has let go of everything, 'again' while work is in flight. */
  deinit?(ctx: ModuleContext): DeinitAnswer | Promise<DeinitAnswer>;
}

/** A native C module (native/include/uv_drain_module.h). */
export interface NativeModuleSpec {
  /** Path of the shared object. */
  native: string;
  /** Prefix of its symbols (`<symbols>_init`...); default: the module's name, which must then be a C identifier. */
  symbols?: string;
}

export type ModuleSpec = JsModule | string | NativeModuleSpec;

/** A loaded module, whatever its kind. Every hook runs with the module's owner current. */
export interface LoadedModule {
  readonly kind: 'js' | 'native';
  init(): Promise<void>;
  cleanup(): Promise<void>;
  /** The answer, synchronously when the module's deinit is synchronous (the per-iteration question is cheap then). */
  deinit(): DeinitAnswer | Promise<DeinitAnswer>;
  /** Live handles whose callbacks lie inside the module's code (native only). */
  callbacksInside(): string[];
  /** Forgets the module: drops the JS module (and its CommonJS cache entry) or dlcloses the C one. */
  remove(): void;
  /** What its paced work still has to do. */
  pacedPending(): PacedPending;
}

const HOOKS = ['init', 'cleanup', 'deinit'] as const;

export function checkModuleSpec(spec: unknown): void {
  if (typeof spec === 'string') {
    if (spec.length === 0) throw new TypeError('The "module" argument must be a non-empty path');
    return;
  }
  if (spec === null || typeof spec !== 'object') {
    throw new TypeError(
      `The "module" argument must be a module object, a path or { native: path }, received ${describe(spec)}`,
    );
  }
  if ('native' in spec) {
    const file = (spec as NativeModuleSpec).native;
    if (typeof file !== 'string' || file.length === 0) {
      throw new TypeError(`The "module.native" option must be a non-empty path, received ${describe(file)}`);
    }
    const symbols = (spec as NativeModuleSpec).symbols;
    if (symbols !== undefined && (typeof symbols !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(symbols))) {
      throw new TypeError(`The "module.symbols" option must be a C identifier, received ${describe(symbols)}`);
    }
    return;
  }
  for (const hook of HOOKS) {
    const fn = (spec as Record<string, unknown>)[hook];
    if (fn !== undefined && typeof fn !== 'function') {
      throw new TypeError(`The "module.${hook}" property must be a function, received ${describe(fn)}`);
    }
  }
}

/**
 * Opens a module and runs nothing of it yet (a JS file is evaluated as the
 * owner). A JS module's `code` is its own (code-owners.ts) until removal.
 */
export async function openModule(name: string, spec: ModuleSpec, code: ModuleCode): Promise<LoadedModule> {
  if (typeof spec === 'object' && 'native' in spec) {
    return openNative(name, path.resolve(spec.native), spec.symbols ?? name);
  }
  if (typeof spec === 'string' && /\.(so|dylib)$/.test(spec)) return openNative(name, path.resolve(spec), name);
  const release = ownCode(name, code);
  try {
    if (typeof spec === 'string') return await openFile(name, path.resolve(spec), release);
    return jsModule(name, spec, undefined, release);
  } catch (error) {
    release();
    throw error;
  }
}

let esmLoads = 0;

async function openFile(name: string, file: string, release: () => void): Promise<LoadedModule> {
  // Top-level code of the file is the module's code: evaluate it as the owner.
  let ns: Record<string, unknown>;
  let cjs: string | undefined;
  if (isCommonJs(file)) {
    // require() so that removal can delete the require.cache entry and a
    // later load evaluates the file afresh.
    ns = asModule(name, () => createRequire(file)(file)) as Record<string, unknown>;
    cjs = file;
  } else {
    // Node cannot forget an ES module: each load imports a fresh instance
    // (a distinct URL), and the old one stays in memory, unreferenced.
    const url = `${pathToFileURL(file).href}?uv-drain-load=${++esmLoads}`;
    ns = (await asModule(name, () => import(url))) as Record<string, unknown>;
  }
  const hooks = HOOKS.some((h) => typeof ns[h] === 'function') ? ns : (ns.default as Record<string, unknown>);
  checkModuleSpec(hooks ?? {});
  return jsModule(name, (hooks ?? {}) as JsModule, cjs, release);
}

/** .cjs, or .js outside a package whose package.json says "type": "module". */
function isCommonJs(file: string): boolean {
  if (file.endsWith('.cjs')) return true;
  if (!file.endsWith('.js')) return false;
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        return (JSON.parse(readFileSync(pkg, 'utf8')) as { type?: string }).type !== 'module';
      } catch {
        return true;
      }
    }
    if (path.dirname(dir) === dir) return true;
  }
}

/** Where a module's code lies: what attribution by code (code-owners.ts) matches frames against. */
export interface ModuleCode {
  dirs: string[];
  files: string[];
}

/**
 * The code of a module: an explicit `root`/`files` load option; else, for a
 * file module, its package root (the nearest package.json above it, unless
 * that package is the host's own: it holds the host's code, i.e. `hostFiles`
 * — the file that called load() — or the entry script), else its directory
 * (unless host code lies there too: then the file alone); nothing for an
 * object module (the async context decides).
 */
export function moduleCode(
  spec: ModuleSpec,
  options: { root?: string | string[]; files?: string[] },
  hostFiles: string[],
): ModuleCode {
  const explicit = {
    dirs: (typeof options.root === 'string' ? [options.root] : (options.root ?? [])).flatMap(bothPaths),
    files: (options.files ?? []).flatMap(bothPaths),
  };
  if (explicit.dirs.length > 0 || explicit.files.length > 0 || typeof spec !== 'string') return explicit;
  if (/\.(so|dylib)$/.test(spec)) return explicit;
  const file = realOf(path.resolve(spec));
  // As given and as resolved: node_modules or a checkout may be a link.
  const host = [...hostFiles, ...(process.argv[1] === undefined ? [] : [process.argv[1]])].flatMap(bothPaths);
  const holdsHost = (dir: string) => host.some((entry) => entry.startsWith(dir + path.sep));
  const dir = path.dirname(file);
  for (let d = dir; ; d = path.dirname(d)) {
    if (existsSync(path.join(d, 'package.json'))) {
      if (!holdsHost(d)) return { dirs: [d], files: [] };
      break;
    }
    if (path.dirname(d) === d) break;
  }
  return holdsHost(dir) ? { dirs: [], files: [file] } : { dirs: [dir], files: [] };
}

function realOf(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

/** A path as given (resolved) and as the file system resolves it: frames may name either. */
function bothPaths(p: string): string[] {
  const resolved = path.resolve(p);
  const real = realOf(resolved);
  return real === resolved ? [resolved] : [resolved, real];
}

function jsModule(name: string, mod: JsModule, cjsFile: string | undefined, releaseCode: () => void): LoadedModule {
  const pacer = new ModulePacer(name);
  const ctx: ModuleContext = Object.freeze({
    name,
    yield: () => pacer.yield(),
    budgetLeft: () => pacer.budgetLeft(),
    paced: <T>(items: Iterable<T>, fn: (item: T, index: number) => unknown) => pacer.paced(items, fn),
  });
  return {
    kind: 'js',
    async init() {
      await asModule(name, () => mod.init?.(ctx));
    },
    async cleanup() {
      await asModule(name, () => mod.cleanup?.(ctx));
    },
    deinit() {
      if (mod.deinit === undefined) return 'done';
      const answer: unknown = asModule(name, () => mod.deinit!(ctx));
      const check = (a: unknown): DeinitAnswer => {
        if (a !== 'done' && a !== 'again') throw new TypeError(`deinit must answer 'done' or 'again', answered ${describe(a)}`);
        return a;
      };
      return typeof (answer as { then?: unknown } | null)?.then === 'function'
        ? Promise.resolve(answer).then(check)
        : check(answer);
    },
    callbacksInside: () => [],
    remove() {
      if (cjsFile !== undefined) delete require.cache[cjsFile];
      releaseCode();
    },
    pacedPending: () => pacer.pending(),
  };
}

function openNative(name: string, file: string, symbols: string): LoadedModule {
  const c = cModule;
  const handle: CModuleHandle = c.open(file, symbols, ownerRecord(name).id, name);
  let closed = false;
  const check = (what: string, rc: number) => {
    if (rc < 0) throw uvError(`${what} of native module "${name}" returned ${rc}`, rc);
  };
  return {
    kind: 'native',
    async init() {
      check('init', c.init(handle));
    },
    async cleanup() {
      check('cleanup', c.cleanup(handle));
    },
    deinit() {
      const rc = c.deinit(handle);
      if (rc === 0) return 'done';
      if (rc === UV_EAGAIN || rc === UV_EBUSY) return 'again';
      throw uvError(`deinit of native module "${name}" returned ${rc}`, rc);
    },
    callbacksInside: () => (closed ? [] : c.callbacksInside(handle)),
    remove() {
      c.close(handle);
      closed = true;
    },
    // The C side's continuations; what each will still do, only the module knows.
    pacedPending: () => ({ waiting: closed ? 0 : c.pacedPending(handle), itemsLeft: null }),
  };
}

const { EAGAIN: UV_EAGAIN, EBUSY: UV_EBUSY } = binding.uvErrors;

function uvError(message: string, rc: number): Error {
  const error = new Error(message) as Error & { errno: number };
  error.errno = rc;
  return error;
}
