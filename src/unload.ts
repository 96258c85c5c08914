// One unload of one module, as a state machine (the coordinator only starts
// it and keeps its promise):
//
//   cleanup ──cleanup returned or threw──▶ draining ──deinit 'done', only
//      │                                     │  ▲    closing handles, requests
//      │                                     │  │    or timers left──▶ verifying
//      │                          deinit 'done'  'again', or 'done' while  │
//      │                          and drained    holding: ask again        │ drained
//      ▼                                     ▼                             ▼
//   failed ◀── deadline, deinit threw ── removing ◀──────────────────────────
//                                            │
//                                            ▼
//                                         removed
//
// deinit is asked only from the drain watcher's prepare callback, at most
// once per loop iteration: there, every callback of the iteration's earlier
// phases and the microtasks they queued have run, so a promise continuation
// of the module's last request has settled its state before the question.
// It is asked in the first iteration after cleanup returned, after every
// change of the owner's accounting (one made while an asynchronous deinit
// is pending: once it settled), and, while the last answer was 'again', in
// every later iteration; after a 'done', only on a change. A
// prepare handle never shortens the poll timeout: an idle loop still sleeps.
// The unload holds the loop (the watcher is ref'd) until it settles, so the
// process cannot end under it.
import { countsFor, snapshot, type OwnerCounts } from './accounting';
import { deadline, type Deadline } from './deadline';
import { isDrained, updateJsState, watchOwner } from './drain';
import { ModuleDeinitError, UnloadTimeoutError, messageOf } from './errors';
import type { DeinitAnswer, LoadedModule } from './modules';
import { sharePacing, type UnloadPacing } from './pacing';
import { binding } from './native';
import { keyOfId } from './records';
import { stackOf } from './stack-text';
import { handleCapture, takeMatches } from './stacks';
import type { LeftHandle, UnloadReport } from './coordinator';
import { now } from './clock';

export type UnloadState = 'cleanup' | 'draining' | 'verifying' | 'removed' | 'failed';

export interface UnloadHooks {
  /** Called once deinit said 'done' and nothing is left: removes the module from the coordinator. */
  remove(): void;
  emit(event: 'cleanup' | 'drained' | 'unloaded' | 'stalled', ...args: unknown[]): void;
  error(error: unknown): void;
  stacks: boolean;
  /** The module's budget of loop time per iteration for its paced wrap-up (Infinity: none). */
  budgetMs: number;
}

export class Unload {
  state: UnloadState = 'cleanup';
  readonly promise: Promise<UnloadReport>;
  readonly #name: string;
  readonly #module: LoadedModule;
  readonly #hooks: UnloadHooks;
  readonly #report: UnloadReport;
  readonly #started = now();
  readonly #expiry: Deadline;
  readonly #pacing: UnloadPacing;
  #resolve!: (report: UnloadReport) => void;
  #reject!: (error: Error) => void;
  #stopWatching: () => void;
  /** A deinit call is under way (it may be async). */
  #asking = false;
  /** Ask at the next prepare callback: cleanup returned, the accounting changed, or deinit settled since the last question. */
  #askNext = false;
  #lastCounts: OwnerCounts | undefined;
  /** The owner is drained, but live handles of others will still call into the module. */
  #calledIntoByOthers = false;
  #lastChange = 0;
  /** Iteration of the last 'again' answered with nothing of the owner left, while nothing changed since. */
  #emptyAgainAt: number | undefined;
  /** Verifying, nothing left as seen from a microtask: removed at the next prepare callback if still so. */
  #confirmAtPrepare = false;

  constructor(name: string, module: LoadedModule, timeoutMs: number, hooks: UnloadHooks) {
    this.#name = name;
    this.#module = module;
    this.#hooks = hooks;
    this.#report = {
      name,
      kind: module.kind,
      removed: false,
      cleanupReturned: false,
      deinitCalls: 0,
      left: { counts: countsFor(name), handles: [], callbacksInside: [] },
      durationMs: 0,
      pacing: { budgetMs: hooks.budgetMs, waiting: 0, itemsLeft: 0 },
    };
    this.promise = new Promise<UnloadReport>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // From now until it settles, the module shares the iteration budget.
    this.#pacing = sharePacing(name, hooks.budgetMs);
    // The deadline covers cleanup too (deinit is only asked once cleanup
    // returned). It is uv-drain's own timer, unref'd: the unload holds the
    // loop through the watcher, and its poll timeout still ends at the deadline.
    this.#expiry = deadline(timeoutMs, () => this.#onDeadline(timeoutMs));
    this.#stopWatching = watchOwner(name, (counts, iteration, atPrepare) => this.#onCounts(counts, iteration, atPrepare), {
      holdLoop: true,
      everyIteration: () => this.#wantsEveryIteration(),
    });
    // Module code runs only once unload() has recorded this unload, so that
    // a module calling unload() or quit() from its cleanup gets this promise.
    queueMicrotask(() => {
      this.#hooks.emit('cleanup', name);
      this.#pacing.begin();
      this.#module.cleanup().then(
        () => this.#startDrain(),
        (error: unknown) => {
          this.#report.cleanupError = messageOf(error);
          this.#hooks.error(error);
          this.#startDrain();
        },
      );
    });
  }

  #startDrain(): void {
    this.#report.cleanupReturned = true;
    if (this.state !== 'cleanup') return;
    this.state = 'draining';
    this.#askNext = true;
    updateJsState();
  }

  /** Whether the watcher must call back at every iteration (the native flag follows it). */
  #wantsEveryIteration(): boolean {
    // Verifying with the owner drained but a handle of someone else (or of
    // nobody) still calling into the module: its going changes nothing of
    // the owner's, so only looking at every iteration sees it.
    if (this.state === 'verifying') return this.#calledIntoByOthers || this.#confirmAtPrepare;
    return this.state === 'draining' && !this.#asking && (this.#askNext || this.#report.lastDeinit === 'again');
  }

  #onCounts(counts: OwnerCounts, iteration: number, atPrepare: boolean): boolean {
    const wanted = this.#wantsEveryIteration();
    if (!sameCounts(counts, this.#lastCounts)) {
      this.#lastCounts = counts;
      this.#lastChange = iteration;
      this.#emptyAgainAt = undefined;
      if (this.state === 'draining') this.#askNext = true;
    }
    if (this.state === 'verifying') {
      // Seen from a microtask (a timer's or a request's end), nothing left
      // may still be followed by module code queued behind it (a promise
      // continuation that makes more work): the removal waits for the
      // iteration's prepare callback, where every microtask has run.
      if (this.#nothingLeft(counts)) {
        if (atPrepare) this.#remove(counts);
        else this.#confirmAtPrepare = true;
      } else {
        this.#confirmAtPrepare = false;
      }
    } else if (this.state === 'draining' && atPrepare && !this.#asking) {
      if (this.#askNext || this.#report.lastDeinit === 'again') this.#ask(counts, iteration);
    }
    if (this.#wantsEveryIteration() !== wanted) updateJsState();
    return this.state === 'removed' || this.state === 'failed';
  }

  // `counts`: the owner's accounting when the question is asked. A
  // synchronous 'again' is judged on them (the question is asked at every
  // iteration: it must cost no walk of the loop); a 'done' always on a fresh count.
  #ask(counts: OwnerCounts, askedIn: number): void {
    this.#asking = true;
    this.#askNext = false;
    this.#report.deinitCalls++;
    let answer: DeinitAnswer | Promise<DeinitAnswer>;
    try {
      answer = this.#module.deinit();
    } catch (error) {
      this.#onDeinitError(error);
      return;
    }
    if (typeof answer === 'string') {
      this.#settled(answer, askedIn, counts);
      return;
    }
    answer.then(
      (a) => {
        const wanted = this.#wantsEveryIteration();
        this.#settled(a, askedIn, undefined);
        if (this.#wantsEveryIteration() !== wanted) updateJsState();
      },
      (error: unknown) => this.#onDeinitError(error),
    );
  }

  #settled(answer: DeinitAnswer, askedIn: number, counts: OwnerCounts | undefined): void {
    this.#asking = false;
    // An asynchronous deinit that settled in a later iteration is the module's last callback.
    if (counts === undefined) {
      const settledIn = binding.watchIteration();
      if (settledIn !== askedIn) this.#lastChange = settledIn;
    }
    if (this.state !== 'draining') return;
    this.#report.lastDeinit = answer;
    this.#onAnswer(answer, answer === 'done' || counts === undefined ? countsFor(this.#name) : counts);
  }

  #onDeinitError(error: unknown): void {
    this.#asking = false;
    this.#fail(new ModuleDeinitError(this.#name, this.#snapshotReport(), error));
  }

  #onAnswer(answer: DeinitAnswer, counts: OwnerCounts): void {
    if (answer === 'done') {
      if (this.#nothingLeft(counts)) return this.#remove(counts);
      if (counts.total > counts.closing) return this.#stall('done-but-holding');
      // Only closing handles, requests or timers: removed the moment the last goes.
      this.state = 'verifying';
      return;
    }
    if (!isDrained(counts)) return;
    // 'again' with nothing left: a stall once it is so in two iterations
    // with nothing changing between (the module may be waiting on something
    // uv-drain cannot see; it is asked again at every iteration meanwhile).
    const iteration = binding.watchIteration();
    if (this.#emptyAgainAt !== undefined && this.#emptyAgainAt !== iteration) this.#stall('again-with-nothing-left');
    else this.#emptyAgainAt ??= iteration;
  }


  // Sets #calledIntoByOthers only while the owner is drained: otherwise a
  // change of its own accounting is what will come, and wakes the unload.
  #nothingLeft(counts: OwnerCounts): boolean {
    this.#calledIntoByOthers = isDrained(counts) && this.#module.callbacksInside().length > 0;
    return isDrained(counts) && !this.#calledIntoByOthers;
  }

  #stall(kind: NonNullable<UnloadReport['stalled']>): void {
    if (this.#report.stalled === kind) return;
    this.#report.stalled = kind;
    this.#hooks.emit('stalled', this.#snapshotReport());
  }

  #remove(counts: OwnerCounts): void {
    this.#hooks.emit('drained', this.#name, counts);
    try {
      this.#module.remove();
    } catch (error) {
      this.#fail(error as Error);
      return;
    }
    this.#hooks.remove();
    this.#report.removed = true;
    this.#report.iterations = { lastChange: this.#lastChange, removed: binding.watchIteration() };
    this.#settle('removed');
    this.#resolve(this.#snapshotReport());
    this.#hooks.emit('unloaded', this.#snapshotReport());
  }

  #onDeadline(timeoutMs: number): void {
    if (this.state === 'removed' || this.state === 'failed') return;
    if (this.state === 'draining' && this.#report.lastDeinit === 'again' && isDrained(countsFor(this.#name))) {
      this.#stall('again-with-nothing-left');
    }
    const what = this.#report.cleanupReturned ? 'did not drain' : 'did not return from cleanup';
    this.#fail(new UnloadTimeoutError(`module "${this.#name}" ${what} within ${timeoutMs} ms`, this.#snapshotReport()));
  }

  #fail(error: Error): void {
    if (this.state === 'removed' || this.state === 'failed') return;
    this.#settle('failed');
    this.#hooks.error(error);
    this.#reject(error);
  }

  #settle(state: 'removed' | 'failed'): void {
    this.state = state;
    // A module kept after a failed unload goes on with its paced work, at its last share.
    this.#pacing.end(state === 'failed');
    this.#expiry.cancel();
    this.#stopWatching();
  }

  #snapshotReport(): UnloadReport {
    this.#report.left = whatIsLeft(this.#name, this.#module, this.#hooks.stacks);
    this.#report.pacing = { budgetMs: this.#hooks.budgetMs, ...this.#module.pacedPending() };
    this.#report.durationMs = now() - this.#started;
    return { ...this.#report, left: { ...this.#report.left } };
  }
}

/** What a module still has on the loop: counts, handles (with creation stacks when captured), callbacks inside its code. */
export function whatIsLeft(name: string, module: LoadedModule, stacks: boolean): UnloadReport['left'] {
  if (stacks) takeMatches();
  const counts = countsFor(name);
  // snapshot() describes the whole loop (one walk, an object per handle):
  // not asked for an owner with nothing left, the common end of an unload.
  const handles: LeftHandle[] =
    counts.total === 0
      ? []
      : snapshot()
          .filter((h) => h.owner === name)
          .map(({ owner: _owner, ...rest }) =>
            stacks ? { ...rest, stack: stackOf(handleCapture(keyOfId(rest.id))) } : rest,
          );
  return { counts, handles, callbacksInside: module.callbacksInside() };
}

function sameCounts(a: OwnerCounts, b: OwnerCounts | undefined): boolean {
  return (
    b !== undefined &&
    a.total === b.total &&
    a.active === b.active &&
    a.ref === b.ref &&
    a.closing === b.closing &&
    a.requests === b.requests &&
    a.timers === b.timers
  );
}
