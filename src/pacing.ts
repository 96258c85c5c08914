// Paced wrap-up: how a module being unloaded spends at most a budget of loop
// time per iteration, so that the loop keeps serving between its slices.
//
// The budget is per iteration and shared: with n modules being unloaded at
// once, each gets the smallest of their budgets divided by n. The clocks
// live in native code (native/pacer.h: an iteration runs from one poll
// phase to the next), read by JS modules through their ctx and by C modules
// through theirs. A JS task that has spent its share waits on an immediate
// made as the module: it is the module's work (counted in its `timers`),
// keeps the loop from blocking only while something waits, and resumes the
// task in a later iteration, after a poll phase.
import { binding } from './native';
import { withOwner } from './owner-scopes';
import { madeFor } from './birth-state';
import { ownerRecord, type OwnerRecord } from './owners';
import { checkFunction, describe } from './validate';

/** The budget of loop time per iteration a module's wrap-up gets unless told otherwise, in ms. */
export const DEFAULT_BUDGET_MS = 0.5;

/** What a module's paced work still had to do. */
export interface PacedPending {
  /** Tasks waiting for a later iteration (JS: awaited yields; C: continuations asked for). */
  waiting: number;
  /** Items the module's `ctx.paced()` runs had not reached yet; null when unknown (an iterator without a size, or a C module). */
  itemsLeft: number | null;
}

const resolved = Promise.resolve();

/** The pacing of one JS module: what its ctx's yield(), budgetLeft() and paced() use. */
export class ModulePacer {
  readonly #name: string;
  readonly #record: OwnerRecord;
  readonly #id: number;
  /** Tasks waiting to resume, with the iteration each began to wait in. */
  #waiters: { resume: () => void; since: number }[] = [];
  #immediate: NodeJS.Immediate | undefined;
  /** ctx.paced() runs under way: items not reached yet, or null for an iterator of unknown size. */
  readonly #runs = new Set<{ left: number | null }>();

  constructor(name: string) {
    this.#name = name;
    this.#record = ownerRecord(name);
    this.#id = this.#record.id;
  }

  /** Ms of this iteration's share left; Infinity when the module is not being paced. */
  budgetLeft(): number {
    const ns = binding.paceLeft(this.#id);
    return ns === Infinity ? Infinity : ns / 1e6;
  }

  /** Resolves at once while this iteration's share is not spent; else in a later iteration. */
  yield(): Promise<void> {
    if (binding.paceLeft(this.#id) > 0) return resolved;
    return new Promise<void>((resolve) => {
      this.#waiters.push({ resume: resolve, since: binding.paceIteration() });
      if (this.#immediate === undefined) this.#wait();
    });
  }

  /**
   * Runs `fn` over `items` in order, yielding between them: as many per
   * iteration as the share allows (at least one). A promise `fn` returns is
   * awaited before the next item; its rejection ends the run with it.
   */
  async paced<T>(items: Iterable<T>, fn: (item: T, index: number) => unknown): Promise<void> {
    if (items === null || typeof (items as { [Symbol.iterator]?: unknown })?.[Symbol.iterator] !== 'function') {
      throw new TypeError(`The "items" argument must be an iterable, received ${describe(items)}`);
    }
    checkFunction(fn, 'fn');
    const run = { left: sizeOf(items) };
    this.#runs.add(run);
    try {
      // The clock of this iteration starts before the first item, not after it.
      binding.paceLeft(this.#id);
      let index = 0;
      for (const item of items) {
        if (index > 0) await this.yield();
        const result = fn(item, index++);
        if (run.left !== null) run.left--;
        if (typeof (result as { then?: unknown } | null)?.then === 'function') await result;
      }
    } finally {
      this.#runs.delete(run);
    }
  }

  pending(): PacedPending {
    let itemsLeft: number | null = 0;
    for (const run of this.#runs) itemsLeft = run.left === null || itemsLeft === null ? null : itemsLeft + run.left;
    return { waiting: this.#waiters.length, itemsLeft };
  }

  #wait(): void {
    // Made as the module: its work, counted as its timer while it waits.
    this.#immediate = withOwner(this.#name, () => madeFor(this.#record, () => setImmediate(() => this.#resume())));
  }

  #resume(): void {
    // A task resumes only in a later iteration than the one it began to wait
    // in (a poll lies between): one that waits since this iteration (it
    // waited in a poll-phase callback, whose immediate runs in the same
    // iteration's check phase) waits for the next immediate.
    const iteration = binding.paceIteration();
    const ready = this.#waiters.filter((w) => w.since < iteration);
    this.#waiters = this.#waiters.filter((w) => w.since >= iteration);
    this.#immediate = undefined;
    if (this.#waiters.length > 0) this.#wait();
    if (ready.length === 0) return;
    binding.paceLeft(this.#id);
    for (const waiter of ready) waiter.resume();
  }
}

function sizeOf(items: Iterable<unknown>): number | null {
  if (Array.isArray(items) || ArrayBuffer.isView(items)) return (items as ArrayLike<unknown>).length;
  if (items instanceof Set || items instanceof Map) return items.size;
  return null;
}

// ---- the shared budget ------------------------------------------------------

/** The unloads under way that pace, by owner id: their budgets. */
const unloading = new Map<number, number>();

/** One unload's part in the shared budget. */
export interface UnloadPacing {
  /** The module's paced work begins (its cleanup is called): starts this iteration's clock if it is not running. */
  begin(): void;
  /** The unload settled: `keep` leaves the module's last share on (its paced work goes on after a failed unload), else it is no longer paced. */
  end(keep: boolean): void;
}

/**
 * An unload of `name` with `budgetMs` starts: every module being unloaded
 * gets the smallest budget divided by their number, from now on.
 */
export function sharePacing(name: string, budgetMs: number): UnloadPacing {
  const id = ownerRecord(name).id;
  unloading.set(id, budgetMs);
  reshare();
  let ended = false;
  return {
    begin: () => void binding.paceLeft(id),
    end(keep) {
      if (ended) return;
      ended = true;
      unloading.delete(id);
      if (!keep) binding.paceShare(id, Infinity);
      reshare();
    },
  };
}

function reshare(): void {
  if (unloading.size === 0) return;
  const budget = Math.min(...unloading.values());
  const shareNs = budget === Infinity ? Infinity : Math.max(1, (budget * 1e6) / unloading.size);
  for (const id of unloading.keys()) binding.paceShare(id, shareNs);
}
