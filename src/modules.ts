// The three kinds of module a coordinator can load, behind one shape:
// a JS object, a JS file (ES or CommonJS), or a native C shared object.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

import { binding, type CModuleHandle } from './native';
import { ownerRecord, withOwner } from './owners';
import { describe } from './validate';

export type DeinitAnswer = 'done' | 'again';

/** What a JS module's hooks receive. */
export interface ModuleContext {
  /** The module's name, which is also its owner tag. */
  readonly name: string;
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
  deinit(): Promise<DeinitAnswer>;
  /** Live handles whose callbacks lie inside the module's code (native only). */
  callbacksInside(): string[];
  /** Forgets the module: drops the JS module (and its CommonJS cache entry) or dlcloses the C one. */
  remove(): void;
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

/** Opens a module and runs nothing of it yet (a JS file is evaluated as the owner). */
export async function openModule(name: string, spec: ModuleSpec): Promise<LoadedModule> {
  if (typeof spec === 'object' && 'native' in spec) {
    return openNative(name, path.resolve(spec.native), spec.symbols ?? name);
  }
  if (typeof spec === 'string' && /\.(so|dylib)$/.test(spec)) return openNative(name, path.resolve(spec), name);
  if (typeof spec === 'string') return openFile(name, path.resolve(spec));
  return jsModule(name, spec, undefined);
}

let esmLoads = 0;

async function openFile(name: string, file: string): Promise<LoadedModule> {
  // Top-level code of the file is the module's code: evaluate it as the owner.
  let ns: Record<string, unknown>;
  let cjs: string | undefined;
  if (isCommonJs(file)) {
    // require() so that removal can delete the require.cache entry and a
    // later load evaluates the file afresh.
    ns = withOwner(name, () => createRequire(file)(file)) as Record<string, unknown>;
    cjs = file;
  } else {
    // Node cannot forget an ES module: each load imports a fresh instance
    // (a distinct URL), and the old one stays in memory, unreferenced.
    const url = `${pathToFileURL(file).href}?uv-drain-load=${++esmLoads}`;
    ns = (await withOwner(name, () => import(url))) as Record<string, unknown>;
  }
  const hooks = HOOKS.some((h) => typeof ns[h] === 'function') ? ns : (ns.default as Record<string, unknown>);
  checkModuleSpec(hooks ?? {});
  return jsModule(name, (hooks ?? {}) as JsModule, cjs);
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

function jsModule(name: string, mod: JsModule, cjsFile: string | undefined): LoadedModule {
  const ctx: ModuleContext = Object.freeze({ name });
  return {
    kind: 'js',
    async init() {
      await withOwner(name, () => mod.init?.(ctx));
    },
    async cleanup() {
      await withOwner(name, () => mod.cleanup?.(ctx));
    },
    async deinit() {
      if (mod.deinit === undefined) return 'done';
      const answer = await withOwner(name, () => mod.deinit!(ctx));
      if (answer !== 'done' && answer !== 'again') {
        throw new TypeError(`deinit must answer 'done' or 'again', answered ${describe(answer)}`);
      }
      return answer;
    },
    callbacksInside: () => [],
    remove() {
      if (cjsFile !== undefined) delete require.cache[cjsFile];
    },
  };
}

function openNative(name: string, file: string, symbols: string): LoadedModule {
  const c = binding.cmodule;
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
    async deinit() {
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
  };
}

const UV_EAGAIN = -11;
const UV_EBUSY = -16;

function uvError(message: string, rc: number): Error {
  const error = new Error(message) as Error & { errno: number };
  error.errno = rc;
  return error;
}
