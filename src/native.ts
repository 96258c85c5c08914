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

/** What still holds a C module that close() refused to dlclose. */
export interface CModuleHeld {
  /** The live handles whose callbacks (or memory) lie inside the module (`addressLayout` rows). */
  handles: Float64Array;
  /** The owner's requests counted through the C API. */
  requests: number;
  /** Continuations asked for through ctx->continue_later that have not run. */
  continuations: number;
  /** A continuation is pending, or the handles that run them are still closing. */
  paced: boolean;
}

/** The C module binding as native code gives it; src/c-module.ts is the one the rest of uv-drain uses. */
export interface CModuleBinding {
  readonly abi: number;
  open(path: string, symbols: string, ownerId: number, ownerName?: string): CModuleHandle;
  init(h: CModuleHandle): number;
  cleanup(h: CModuleHandle): number;
  deinit(h: CModuleHandle): number;
  /** The live handles whose callbacks (or memory) lie inside the module (`addressLayout` rows). */
  callbacksInside(h: CModuleHandle): Float64Array;
  /** undefined once dlclosed (or already closed); what holds the module when it refused. */
  /** Continuations the module asked for (ctx->continue_later) that have not run. */
  pacedPending(h: CModuleHandle): number;
  close(h: CModuleHandle): CModuleHeld | undefined;
  path(h: CModuleHandle): string;
  name(h: CModuleHandle): string;
}

/** Where each field sits in a row of one of the binding's number arrays (native/js_arrays.h). */
type Layout<Field extends string> = Readonly<Record<Field | 'fields', number>>;

export interface Binding {
  ownerId(name: string): number;
  ownerName(index: number): string;
  /** Puts the owner's counts in `scratch` (`countsLayout`), from the owner index while it is valid. */
  countsFor(id: number): void;
  /** As countsFor, by walking the whole loop: the owner index's oracle in tests. */
  countsByWalk(id: number): void;
  /** Whether the owner index is exact now, and how many times it was rebuilt by a walk. */
  ownerIndexState(): { valid: boolean; rebuilds: number };
  /** An `ownerRowLayout` row per owner with a live handle or request. */
  countsByOwner(): Float64Array;
  /** Puts the loop's totals in `scratch` (`statsLayout`). */
  stats(): void;
  /** `recordLayout` rows; `sharedObjects`: the paths the records' `sharedObject` field indexes. */
  snapshot(withSharedObjects: boolean): { records: Float64Array; sharedObjects: string[] };
  bareTraversal(): number;
  /** Returns the birth's sequence number (-1 if not recorded). */
  noteBirth(id: number, uvType: number, deferred: boolean): number;
  setRecordMatches(on: boolean): void;
  /** A `matchLayout` row per birth matched since the last call (while recording). */
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
  /** Puts the counts of the watcher's last recount of `id` in `scratch` as countsFor() does (no walk); false if not watched. */
  watchedCounts(id: number): boolean;
  watcherHasHandle(): boolean;
  /** The path of the live fs_event, fs_poll or pipe handle at that address, if libuv keeps one. */
  handlePath(addrHi: number, addrLo: number): string | undefined;
  /** Sets the owner's share of each iteration's pacing budget, in ns (Infinity: not paced). */
  paceShare(id: number, ns: number): void;
  /** Ns of the owner's share left in this iteration (starts its clock at its first question of one); Infinity when not paced. */
  paceLeft(id: number): number;
  /** libuv's loop_count: the iteration as pacing counts them (it moves right before each poll phase). */
  paceIteration(): number;
  readonly scratch: Float64Array;
  /** A snapshot record (read through src/records.ts); `sharedObject` is an index into the snapshot's paths or -1. */
  readonly recordLayout: Layout<
    'addrHi' | 'addrLo' | 'type' | 'bits' | 'fd' | 'owner' | 'sharedObject' | 'bitActive' | 'bitRef' | 'bitClosing'
  >;
  /** An owner's counts: in `scratch` after countsFor() and watchedCounts(), at `counts` in an `ownerRowLayout` row. */
  readonly countsLayout: Layout<'total' | 'active' | 'ref' | 'closing' | 'requests'>;
  /** The loop's totals in `scratch` after stats(); `alive` is 1 or 0. */
  readonly statsLayout: Layout<'handles' | 'active' | 'ref' | 'closing' | 'activeReqs' | 'alive'>;
  /** A countsByOwner() row: the owner's index, then its counts (`countsLayout`) from `counts`. */
  readonly ownerRowLayout: Layout<'index' | 'counts'>;
  /** A takeMatches() row: the birth's sequence number and its handle's address. */
  readonly matchLayout: Layout<'seq' | 'addrHi' | 'addrLo'>;
  /** A row of a list of handles (cmodule.callbacksInside(), cmodule.close()'s refusal). */
  readonly addressLayout: Layout<'addrHi' | 'addrLo'>;
  /** libuv's error codes by name (`EAGAIN`, `EBUSY`...), as this libuv defines them. */
  readonly uvErrors: Readonly<Record<string, number>>;
  readonly typeNames: string[];
  readonly capabilities: {
    uvVersion: string;
    tagging: boolean;
    /** A handle's callbacks can be read, so snapshot() names the shared object each calls into. */
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
