// Loads the addon (a prebuild if one matches, else the build from source).
import path = require('node:path');
import nodeGypBuild = require('node-gyp-build');

import platform = require('../install/platform.cjs');
import { UvDrainError } from './errors';

/** The C API table: pass it to an addon, which reads it with napi_get_value_external(). */
export interface CApi {
  readonly __capi: unique symbol;
}

/** An open native C module (native/c_module.cc). */
export interface CModuleHandle {
  readonly __cmodule: unique symbol;
}

export interface CModuleBinding {
  open(path: string, symbols: string, ownerId: number, ownerName?: string): CModuleHandle;
  init(h: CModuleHandle): number;
  cleanup(h: CModuleHandle): number;
  deinit(h: CModuleHandle): number;
  /** Ids of live handles whose callbacks (or memory) lie inside the module. */
  callbacksInside(h: CModuleHandle): string[];
  close(h: CModuleHandle): void;
  path(h: CModuleHandle): string;
  name(h: CModuleHandle): string;
}

export interface Binding {
  ownerId(name: string): number;
  ownerName(index: number): string;
  countsFor(id: number): void;
  countsByOwner(): Float64Array;
  stats(): void;
  snapshot(withModules: boolean): { records: Float64Array; modules: string[] };
  bareTraversal(): number;
  /** Returns the birth's sequence number (-1 if not recorded). */
  noteBirth(id: number, uvType: number, deferred: boolean): number;
  setRecordMatches(on: boolean): void;
  /** [seq, addrHi, addrLo] per birth matched since the last call (while recording). */
  takeMatches(): Float64Array;
  resolveBirths(final: boolean): void;
  nextBirth(): number;
  dropBirthsSince(seq: number): void;
  watch(id: number): void;
  unwatch(id: number): void;
  setWatchCallback(fn: (iteration: number) => void): void;
  setWatchJsState(everyIteration: boolean, holdJs: boolean): void;
  watchRecount(): boolean;
  watchIteration(): number;
  /** Fills scratch[0..4] from the watcher's last recount of `id` (no walk); false if not watched. */
  watchedCounts(id: number): boolean;
  watcherHasHandle(): boolean;
  /** The path of the live fs_event, fs_poll or pipe handle at that address, if libuv keeps one. */
  handlePath(addrHi: number, addrLo: number): string | undefined;
  readonly scratch: Float64Array;
  /** Where each field of a snapshot record sits (native/walk.h; read through src/records.ts). */
  readonly recordLayout: Readonly<{
    fields: number;
    addrHi: number;
    addrLo: number;
    type: number;
    bits: number;
    fd: number;
    owner: number;
    module: number;
    bitActive: number;
    bitRef: number;
    bitClosing: number;
  }>;
  /** libuv's error codes by name (`EAGAIN`, `EBUSY`...), as this libuv defines them. */
  readonly uvErrors: Readonly<Record<string, number>>;
  readonly typeNames: string[];
  readonly capabilities: {
    uvVersion: string;
    tagging: boolean;
    modules: boolean;
    capiVersion: number;
  };
  readonly capi: CApi;
  readonly cmodule: CModuleBinding;
}

export const binding: Binding = load(path.join(__dirname, '..'));

function load(root: string): Binding {
  if (!platform.isSupported()) throw new UvDrainError(platform.ERROR_CODE, platform.unsupportedMessage());
  let loaded: Binding;
  try {
    loaded = nodeGypBuild(root);
  } catch (err) {
    if (!/No native build was found/.test(String((err as Error)?.message))) throw err;
    throw new UvDrainError(
      'UVD_ERR_NO_BINARY',
      `uv-drain has no native binary for ${platform.target()} (no prebuild matches and it was not compiled at install: ` +
        `a package manager that blocks install scripts, or --ignore-scripts). Install ${platform.toolchainHint()}, then run npm rebuild uv-drain.`,
      { cause: err },
    );
  }
  // Counts read from a layout the probe did not confirm could call an owner
  // drained while its handles live: refuse instead (docs/libuv-internals.md).
  if (!loaded.capabilities.tagging) {
    throw new UvDrainError(
      'UVD_ERR_LIBUV_LAYOUT',
      `uv-drain does not know the layout of libuv ${loaded.capabilities.uvVersion} (Node ${process.version}): its load-time probe ` +
        'found handle flags or the handle queue kept differently, so it cannot count handles exactly and does not run. ' +
        'docs/libuv-internals.md lists what the probe checks and the versions verified.',
    );
  }
  return loaded;
}

/** Owner ids keep their index in the low 20 bits (see native/loop_state.h). */
export const OWNER_INDEX_MASK = 0xfffff;
