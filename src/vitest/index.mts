// uv-drain/vitest: a leak check around every test, and two matchers.
//
// Listed in `setupFiles`, this module registers a beforeEach/afterEach pair
// that runs leakCheck() around each test and fails the test that left a
// handle or JS timer alive. Vitest runs setup files again for every test
// file (it inlines them), so the hooks are registered in each file; a test
// file that imports this module gets the same instance as the setup file.
import * as path from 'node:path';
import { aroundAll, aroundEach, expect, TestRunner } from 'vitest';

import {
  countsFor,
  formatLeakReport,
  leakCheck,
  LeakError,
  snapshot,
  whenDrained,
  type LeakCheck,
  type LeakCheckOptions,
  type LeakReport,
} from '../index.js';
import { bornOutsideScopes, currentScope, leakCheckOf, reconfigure, type Accept, type Scope } from '../internal.js';

export type { LeakCheckOptions, LeakReport } from '../index.js';

/** Options of the check run around every test. */
export interface VitestLeakCheckOptions extends LeakCheckOptions {
  /**
   * Creation stacks and exact JS timers. Default true here (false in leakCheck()).
   * With tracking off JS timers are not checked: Vitest's own timers run during
   * tests, and only their creation stacks tell them apart from the test's.
   */
  tracking?: boolean;
  /** Turns the check off for the tests that follow (default true). */
  enabled?: boolean;
  /**
   * 'all' (default): anything left alive fails the test. 'ref': only what
   * would keep the process alive (an active, referenced handle that is not
   * closing, or a referenced JS timer) fails it; the rest is printed as a
   * warning.
   */
  strict?: 'all' | 'ref';
}

export interface DrainMatcherOptions {
  /** How long toHaveDrained() waits for the owner to drain, in ms (default 1000). */
  timeoutMs?: number;
}

declare module 'vitest' {
  interface Matchers<T = any> {
    /**
     * `await expect(owner).toHaveDrained()`: the owner has (or within `timeoutMs`
     * reaches) no live handle, closing ones included, no in-flight request and
     * no pending JS timer.
     */
    toHaveDrained(options?: DrainMatcherOptions): Promise<void>;
    /**
     * `await expect(fn).not.toLeakHandles()`: runs `fn` (awaited if it returns a
     * promise) inside a leak check; fails with the report if it left anything alive.
     */
    toLeakHandles(options?: LeakCheckOptions): Promise<void>;
  }
}

let settings: VitestLeakCheckOptions = { tracking: true };

/**
 * Sets the options of the check. At the top of a test file (or in a hook):
 * for the rest of that file; in a setup file listed after uv-drain/vitest:
 * the default of every file; inside a test: for that test only (there
 * `tracking` cannot change, and `enabled: false` is allowLeaks()).
 */
export function configureLeakCheck(options: VitestLeakCheckOptions): void {
  const { enabled, strict, ...rest } = options;
  if (enabled !== undefined && typeof enabled !== 'boolean') {
    throw new TypeError('The "enabled" option must be a boolean');
  }
  if (strict !== undefined && strict !== 'all' && strict !== 'ref') {
    throw new TypeError(`The "strict" option must be 'all' or 'ref', received ${JSON.stringify(strict) ?? String(strict)}`);
  }
  const test = runningTest();
  if (test !== null) {
    if (rest.tracking !== undefined && rest.tracking !== test.options.tracking) {
      throw new RangeError('The "tracking" option cannot change inside a test (set it at the top of the file)');
    }
    const next = { ...test.options, ...options };
    reconfigure(test.check, { ...checkOptions(next), context: true }); // throws on bad options
    test.options = next;
    if (enabled === false) test.allowed = 'enabled: false';
    return;
  }
  leakCheck(checkOptions({ ...settings, ...rest })); // throws on bad options
  settings = { ...settings, ...options };
}

function checkOptions(options: VitestLeakCheckOptions): LeakCheckOptions {
  const { enabled: _enabled, strict: _strict, ...rest } = options;
  const tracking = rest.tracking ?? true;
  // Untracked timers are only counted: Vitest's throttling timer would count too.
  const ignoreTypes = tracking ? rest.ignoreTypes : [...(rest.ignoreTypes ?? []), 'Timeout', 'Immediate'];
  return { ...rest, tracking, ignoreTypes };
}

// ------------------------------------------------------------- scopes ----
//
// Each test runs in a check scope of its own (aroundEach, the outermost one:
// setup files register first): what its body, its afterEach hooks, its
// fixtures and onTestFinished callbacks make — and what is born in callbacks
// of those — is checked once the test is over, fixtures torn down. The
// hooks of a describe block (beforeAll, beforeEach, afterAll) run in the
// block's scope: what they make may live until the block ends and is checked
// after its afterAll (a client from beforeEach closed in the next beforeEach,
// a server from beforeAll and the connections it accepts during tests). What
// the file's collection made (describe callbacks, top-level code) is checked
// after the file's last afterAll. Scopes follow async context, not the
// clock: concurrent tests each get what they made.
//
// With tracking off there are no scopes: each test is checked for what was
// born while it ran (hooks included), and blocks are not checked.

interface TestState {
  check: LeakCheck;
  options: VitestLeakCheckOptions;
  allowed: string | null;
}

/** The running tests, by the scope of their check. */
const tests = new Map<Scope, TestState>();
/** The checks of the describe blocks (and the file) running now. */
const blocks = new Map<object, LeakCheck>();

function runningTest(): TestState | null {
  const scope = currentScope();
  return scope === null ? null : tests.get(scope) ?? null;
}

/**
 * Per-test opt-out: call it inside a test to skip the leak check for that
 * test only. Say why in `reason`; it is kept for nothing but the reader.
 */
export function allowLeaks(reason?: string): void {
  const test = runningTest();
  if (test === null) throw new Error('allowLeaks() must be called inside a test (uv-drain/vitest is not set up, or no test is running)');
  test.allowed = reason ?? 'allowed';
}

function scoped(): boolean {
  return settings.enabled !== false && (settings.tracking ?? true);
}

// The collection: from this module's load (the file's first setup file) to
// the start of the file's suite. Always tracked (the file's options are not
// known yet); with tracking off for the file, only its handles are reported.
let collectionMadeBefore: Accept | null = null;
let collection: LeakCheck | null = null;
if (settings.enabled !== false) {
  const options = checkOptions(settings);
  const own = options.ignore;
  collection = leakCheckOf(
    { ...options, ignore: (leak) => (!scoped() && leak.kind !== 'handle') || own?.(leak) === true },
    { name: 'collection' },
    (capture, key) => collectionMadeBefore?.(capture, key) ?? false,
  );
  collection.begin();
}

interface SuiteLike {
  name: string;
  type: string;
  tasks?: SuiteLike[];
  file?: { filepath?: string };
  filepath?: string;
  result?: { state?: string; errors?: unknown[] };
}

type Hook = ((...args: unknown[]) => unknown) & Record<PropertyKey, unknown>;
type SuiteHooks = { beforeEach: Hook[]; aroundAll: Hook[] };
const suiteHooks = (TestRunner as unknown as { getSuiteHooks?: (suite: object) => SuiteHooks | undefined }).getSuiteHooks;

aroundAll(async (runSuite: () => Promise<void>, {}, file: SuiteLike) => {
  // The collection is over: what it made is what was born until now outside every scope.
  collectionMadeBefore = bornOutsideScopes();
  let failures: Failure[] = [];
  if (scoped()) {
    for (const suite of suitesOf(file)) scopeHooks(suite);
    failures = await runBlock(file, runSuite);
  } else {
    await runSuite();
  }
  const check = collection;
  collection = null;
  if (check === null) return;
  if (settings.enabled === false || (file.result?.errors?.length ?? 0) > 0) {
    check.cancel();
  } else {
    const report = await check.end();
    const failure = reportFor(report, `${fileName(file)}: its collection (describe callbacks, top-level code) left`, 'after its last afterAll');
    if (failure !== null) failures.unshift(failure);
  }
  if (failures.length > 0) throw leakError(failures);
}, 0);

function* suitesOf(suite: SuiteLike): Generator<SuiteLike> {
  yield suite;
  for (const task of suite.tasks ?? []) if (task.type === 'suite') yield* suitesOf(task);
}

// A block's beforeEach hooks run inside each test's scope: they are moved
// into the block's. Nested blocks get an aroundAll of their own (outermost).
function scopeHooks(suite: SuiteLike): void {
  const hooks = suiteHooks?.(suite);
  if (hooks === undefined) return;
  hooks.beforeEach = hooks.beforeEach.map((hook) => {
    const inBlock = function (this: unknown, ...args: unknown[]) {
      const check = blocks.get(suite);
      return check === undefined ? hook.apply(this, args) : check.run(() => hook.apply(this, args));
    };
    return Object.assign(inBlock, hook) as Hook;
  });
  if ('filepath' in suite) return; // the file: this module's own aroundAll
  const around = async (runSuite: () => Promise<void>) => {
    const failures = await runBlock(suite, runSuite);
    if (failures.length > 0) throw leakError(failures);
  };
  hooks.aroundAll.unshift(around as unknown as Hook);
}

async function runBlock(suite: SuiteLike, runSuite: () => Promise<void>): Promise<Failure[]> {
  const scope: Scope = { name: `block ${suite.name}` };
  const check = leakCheckOf({ ...checkOptions(settings), context: true }, scope, (capture) => capture?.scope === scope);
  check.begin();
  blocks.set(suite, check);
  try {
    await check.run(runSuite);
  } finally {
    blocks.delete(suite);
  }
  // A block whose own hooks failed has its error (and skipped its cleanup, likely).
  if (settings.enabled === false || (suite.result?.errors?.length ?? 0) > 0) {
    check.cancel();
    return [];
  }
  const report = await check.end();
  const what = 'filepath' in suite ? `${fileName(suite)}: its top-level hooks` : `describe "${suite.name}" (${fileName(suite)}): its hooks`;
  const failure = reportFor(report, `${what} left`, 'after its afterAll');
  return failure === null ? [] : [failure];
}

aroundEach(async (runTest: () => Promise<void>, { task }: { task: SuiteLike & { fullTestName?: string } }) => {
  if (settings.enabled === false) return runTest();
  const options = { ...settings };
  const scope: Scope = { name: `test ${task.name}` };
  const byContext = scoped();
  const check = leakCheckOf(
    { ...checkOptions(options), context: byContext },
    scope,
    byContext ? (capture) => capture === undefined || capture.scope === scope : () => true,
  );
  const state: TestState = { check, options, allowed: null };
  tests.set(scope, state);
  check.begin();
  try {
    await check.run(runTest);
  } finally {
    tests.delete(scope);
  }
  // Only a passing test is failed for a leak: a failing one has its own
  // error (and skipped its own cleanup, likely).
  if (state.allowed !== null || task.result?.state === 'fail') {
    check.cancel();
    return;
  }
  const report = await check.end();
  const testName = task.fullTestName ?? task.name;
  const failure = reportFor(report, `test "${testName}" (${fileName(task)}) left`, '', state.options.strict);
  if (failure !== null) throw leakError([failure]);
}, 0);

function fileName(task: SuiteLike): string {
  const file = task.filepath ?? task.file?.filepath;
  return file === undefined ? 'this file' : relative(file);
}

interface Failure {
  text: string;
  report: LeakReport;
}

/**
 * The failure a report makes, or null when nothing failed: with strict 'ref'
 * and nothing that holds the process, the report is printed as a warning.
 */
function reportFor(report: LeakReport, subject: string, when: string, strict = settings.strict): Failure | null {
  if (report.ok) return null;
  const waited = `(waited ${Math.round(report.waitedMs)} ms)`;
  const title = `uv-drain: ${subject} ${describeCount(report)} alive ${when === '' ? '' : when + ' '}${waited}:`;
  const text = relativeStacks(formatLeakReport(report, { title }));
  if (strict === 'ref' && !report.leaks.some(holdsProcess)) {
    console.warn(text.replace(/^uv-drain:/, 'uv-drain (warning, strict: ref):'));
    return null;
  }
  return { text, report };
}

/** What keeps the process alive: an active referenced handle that is not closing, or a referenced JS timer. */
function holdsProcess(leak: LeakReport['leaks'][number]): boolean {
  return leak.kind === 'timer' ? leak.ref : leak.active && leak.ref && !leak.closing;
}

/** One error for a scope's failures (a file's collection and its hooks: one report, both lists). */
function leakError(failures: Failure[]): LeakError {
  const text = failures.map((f) => f.text).join('\n\n');
  const reports = failures.map((f) => f.report);
  const report: LeakReport =
    reports.length === 1
      ? reports[0]
      : {
          ok: false,
          leaks: reports.flatMap((r) => r.leaks),
          ignored: reports.reduce((n, r) => n + r.ignored, 0),
          waitedMs: Math.max(...reports.map((r) => r.waitedMs)),
          iterations: Math.max(...reports.map((r) => r.iterations)),
          tracking: reports.every((r) => r.tracking),
        };
  const error = new LeakError(text, report);
  // The report is the message: frames of uv-drain's hook, or the report
  // object printed again by Vitest, would only add noise.
  error.stack = `${error.name}: ${text}`;
  Object.defineProperty(error, 'report', { enumerable: false });
  return error;
}

function describeCount(report: LeakReport): string {
  const handles = report.leaks.filter((l) => l.kind === 'handle').length;
  const timers = report.leaks.length - handles;
  const parts: string[] = [];
  if (handles > 0) parts.push(`${handles} handle${handles === 1 ? '' : 's'}`);
  if (timers > 0) parts.push(`${timers} JS timer${timers === 1 ? '' : 's'}`);
  return parts.join(' and ');
}

function relative(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel.startsWith('..') ? file : rel;
}

function relativeStacks(text: string): string {
  const prefix = process.cwd() + path.sep;
  return text.split(prefix).join('').split('file://').join('');
}

// ------------------------------------------------------------ matchers ----

interface MatcherThis {
  isNot: boolean;
  utils: { printReceived(value: unknown): string };
}

expect.extend({
  async toHaveDrained(this: MatcherThis, owner: unknown, options: DrainMatcherOptions = {}) {
    if (typeof owner !== 'string') {
      throw new TypeError(`toHaveDrained() expects an owner name (string), received ${this.utils.printReceived(owner)}`);
    }
    const timeoutMs = options.timeoutMs ?? 1000;
    let pass = true;
    try {
      await whenDrained(owner, { timeoutMs });
    } catch (error) {
      if ((error as { code?: string }).code !== 'UVD_ERR_DRAIN_TIMEOUT') throw error;
      pass = false;
    }
    return {
      pass,
      message: () => {
        if (this.isNot) return `expected owner "${owner}" not to drain within ${timeoutMs} ms, but it drained`;
        const counts = countsFor(owner);
        const handles = snapshot()
          .filter((h) => h.owner === owner)
          .map((h) => `  ${h.type} ${h.id} ${h.active ? 'active' : 'inactive'} ${h.ref ? 'ref' : 'unref'}${h.closing ? ' closing' : ''}`);
        return [`expected owner "${owner}" to drain within ${timeoutMs} ms; it still has ${JSON.stringify(counts)}`, ...handles].join('\n');
      },
    };
  },

  async toLeakHandles(this: MatcherThis, fn: unknown, options: LeakCheckOptions = {}) {
    if (typeof fn !== 'function') {
      throw new TypeError(`toLeakHandles() expects a function, received ${this.utils.printReceived(fn)}`);
    }
    const check = leakCheck(checkOptions({ ...settings, enabled: undefined, ...options }));
    check.begin();
    let report: LeakReport;
    try {
      await fn();
    } finally {
      report = await check.end();
    }
    return {
      pass: !report.ok,
      message: () =>
        this.isNot
          ? relativeStacks(formatLeakReport(report, { title: `expected the function not to leak, but it left ${describeCount(report)} alive:` }))
          : 'expected the function to leave a handle or JS timer alive, but it left nothing',
    };
  },
});
