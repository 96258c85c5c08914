// Shared test helpers. Everything here waits on real loop events; nothing
// mocks libuv or Node.
import { once } from 'node:events';
import * as net from 'node:net';
import { setImmediate as tick } from 'node:timers/promises';
import { afterEach, beforeEach, expect } from 'vitest';
import { UnloadCoordinator, countsFor, snapshot, stats, type CoordinatorOptions, type JsModule } from '../dist/index.js';

/** Waits (loop iteration by loop iteration, at most `maxTicks`) until `cond()` holds. */
export async function until(cond: () => boolean, what: string, maxTicks = 10_000): Promise<void> {
  for (let i = 0; i < maxTicks; i++) {
    if (cond()) return;
    await tick();
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Waits until `owner` has no live handle (closing ones included) left. */
export function untilNoHandles(owner: string): Promise<void> {
  return until(() => countsFor(owner).total === 0, `owner ${owner} to have no handles`);
}

// ---------------------------------------------------------------- names ----

let names = 0;

/**
 * `prefix` followed by a number no earlier call gave in this test file: an
 * owner's id (and a module's name in a coordinator) lives as long as the
 * loop, so every test takes names of its own.
 */
export function uniqueName(prefix: string): string {
  return `${prefix}${++names}`;
}

// ------------------------------------------------------------- failures ----

/** The error `fn` throws (fails the test if it returns). */
export function thrown(fn: () => unknown): Error & Record<string, any> {
  try {
    fn();
  } catch (error) {
    return error as Error & Record<string, any>;
  }
  throw new Error('expected a throw, got a return');
}

export type Settled<T> = { ok: true; value: T } | { ok: false; error: Error & Record<string, any> };

/** `p`'s outcome; never rejects (a rejection nobody awaited yet must not count as unhandled). */
export function settle<T>(p: Promise<T>): Promise<Settled<T>> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error) => ({ ok: false as const, error }),
  );
}

/** Resolves with `p`'s outcome, or with 'hung' if it has not settled after `ms`. */
export async function within<T>(p: Promise<T>, ms: number): Promise<Settled<T> | 'hung'> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), ms)));
  try {
    return await Promise.race([settle(p), guard]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The rejection of `p` (fails the test if it resolves). With `withinMs`, a
 * `p` still pending after that long fails the test too, instead of hanging it.
 */
export async function rejection(p: Promise<unknown>, withinMs?: number): Promise<Error & Record<string, any>> {
  if (withinMs === undefined) {
    return p.then(
      (value) => {
        throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
      },
      (error: unknown) => error as Error & Record<string, any>,
    );
  }
  const outcome = await within(p, withinMs);
  if (outcome === 'hung') throw new Error(`still pending after ${withinMs} ms`);
  if (outcome.ok) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.value)}`);
  return outcome.error;
}

// ------------------------------------------------------ servers, sockets ----

/**
 * Closes `server` (nothing to do when it is undefined or not listening) and
 * resolves on its 'close' event: its handle may still be closing then (wait
 * with untilNoHandles() or until() for it to be gone).
 */
export function closeServer(server: net.Server | undefined): Promise<void> {
  if (server === undefined || !server.listening) return Promise.resolve();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Destroys `socket` (nothing to do when it is undefined or closed) and waits for its 'close' event (libuv's close callback). */
export async function destroySocket(socket: net.Socket | undefined): Promise<void> {
  if (socket === undefined || socket.closed) return;
  const closed = once(socket, 'close');
  socket.destroy();
  await closed;
}

/** Servers to close after the running test if they are still listening then (baselinePerTest() does). */
const leftOpen = new Set<net.Server>();
let closesLeftOpen = false;

/**
 * Hands `server` over to be closed after the test, before anything else of
 * baselinePerTest()'s, if it is still listening then: a test that passes
 * closes its servers itself; one that fails half-way leaves nothing behind.
 */
export function closeAfterTest<S extends net.Server>(server: S): S {
  if (!closesLeftOpen) throw new Error('closeAfterTest() needs baselinePerTest() in the test file');
  leftOpen.add(server);
  return server;
}

/** A JS module whose server holds it, and lets go of it on release(). */
export interface ServerModule extends JsModule {
  /** Made (listening on 127.0.0.1, an ephemeral port) by init. */
  server: net.Server | undefined;
  /** Closes the server; resolves once its handle's close callback has run. */
  release(): Promise<void>;
}

/**
 * A module whose init makes a net.Server (its owner's) and waits for it to
 * listen; its cleanup closes it. `hooks` replace init, cleanup or deinit
 * (`cleanup() {}`: a module that does not let go at its cleanup event). The
 * server is closed after the test if still listening (closeAfterTest()).
 */
export function serverModule(hooks: Partial<JsModule> = {}): ServerModule {
  const mod: ServerModule = {
    server: undefined,
    async init() {
      const server = closeAfterTest(net.createServer());
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      mod.server = server;
    },
    cleanup() {
      mod.server!.close();
    },
    release(): Promise<void> {
      return new Promise((resolve) => mod.server!.close(() => setImmediate(resolve)));
    },
    ...hooks,
  };
  return mod;
}

// --------------------------------------------------------- coordinators ----

const coordinators: UnloadCoordinator[] = [];

/** A coordinator for the running test; quitCoordinators() quits it after the test if the test did not get that far. */
export function coordinator(options?: CoordinatorOptions): UnloadCoordinator {
  const c = new UnloadCoordinator(options);
  coordinators.push(c);
  return c;
}

/**
 * After a test (a file calls it from its tidy): a test that got to its end
 * has quit its coordinators; this only tidies up after a failure. Unloads
 * what each coordinator() still has loaded and quits it; returns the names
 * that were left and the errors of the unloads that failed.
 */
export async function quitCoordinators(): Promise<{ left: string[]; failures: unknown[] }> {
  const left: string[] = [];
  const failures: unknown[] = [];
  for (const c of coordinators.splice(0)) {
    left.push(...c.names);
    // quit() again returns the first quit's promise: unload what is left first.
    for (const name of c.names) await c.unload(name, { timeoutMs: 10_000 }).catch((e: unknown) => failures.push(e));
    await c.quit({ timeoutMs: 10_000 }).catch(() => {});
  }
  return { left, failures };
}

// ------------------------------------------------------------- baseline ----

/** Handle ids alive now, for a later "back at baseline" check. */
export function loopBaseline(): Set<string> {
  return new Set(snapshot().map((h) => h.id));
}

/**
 * Asserts no handle born since `baseline` is still alive and nothing is
 * closing (waits a few iterations for close callbacks: a handle of the
 * baseline, such as one of Node's delayed-task timers, may be closing too).
 * Node's own lazily made handles (its delayed-task timer, unref'd) are
 * ignored only if they are unref'd and owned by nobody.
 */
export async function expectBackAtBaseline(baseline: Set<string>): Promise<void> {
  const extra = () =>
    snapshot().filter((h) => h.closing || (!baseline.has(h.id) && (h.owner !== null || h.ref)));
  for (let i = 0; i < 200 && extra().length > 0; i++) await tick();
  expect(extra()).toEqual([]);
  expect(stats().closing).toBe(0);
}

/** What a file does around baselinePerTest()'s baseline and check, in this order. */
export interface BaselineHooks {
  /** Before each test, before the baseline is taken. */
  before?: () => void;
  /** Before each test, once the baseline is taken. */
  setup?: () => void;
  /** After each test (and the closeAfterTest() servers), before the check: closes what the file's tests leave to it. */
  tidy?: () => unknown;
  /** After the check. */
  verify?: () => unknown;
  /**
   * false: no check after the test, the file's tests make it themselves
   * where each one chooses (`await expectBackAtBaseline(baseline())`).
   */
  check?: boolean;
}

/**
 * Every test of the calling file (or describe block) starts from the loop as
 * it is and ends with the loop back there. Returns the running test's
 * baseline, for a check inside the test.
 */
export function baselinePerTest(hooks: BaselineHooks = {}): () => Set<string> {
  closesLeftOpen = true;
  let baseline: Set<string> | undefined;
  beforeEach(() => {
    hooks.before?.();
    baseline = loopBaseline();
    hooks.setup?.();
  });
  afterEach(async () => {
    for (const server of leftOpen) if (server.listening) server.close();
    leftOpen.clear();
    await hooks.tidy?.();
    if (hooks.check !== false) await expectBackAtBaseline(baseline!);
    await hooks.verify?.();
  });
  return () => {
    if (baseline === undefined) throw new Error('the baseline is taken before each test: read it inside one');
    return baseline;
  };
}

/** The loop's totals (stats()) and its handles by id, closing or not (snapshot()), taken in one synchronous step. */
export interface LoopTotals {
  handles: number;
  closing: number;
  ids: Map<string, boolean>;
}

export function loopTotals(): LoopTotals {
  const { handles, closing } = stats();
  return { handles, closing, ids: new Map(snapshot().map((h) => [h.id, h.closing])) };
}

/**
 * How far stats().handles and stats().closing moved between two loopTotals(), leaving out the handles that
 * anything else in the process (the runner, Node) made, closed or finished in between: only the handles in
 * `ours` count.
 */
export function movedBy(before: LoopTotals, after: LoopTotals, ours: readonly string[] = []): { handles: number; closing: number } {
  const mine = new Set(ours);
  const others = (t: LoopTotals) => {
    let handles = 0;
    let closing = 0;
    for (const [id, isClosing] of t.ids) {
      if (mine.has(id)) continue;
      handles++;
      if (isClosing) closing++;
    }
    return { handles, closing };
  };
  const [a, b] = [others(before), others(after)];
  return {
    handles: after.handles - b.handles - (before.handles - a.handles),
    closing: after.closing - b.closing - (before.closing - a.closing),
  };
}
