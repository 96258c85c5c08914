// uv-drain/vitest: a leak check around every test, and two matchers.
//
// Listed in `setupFiles`, this module registers a beforeEach/afterEach pair
// that runs leakCheck() around each test and fails the test that left a
// handle or JS timer alive. Vitest runs setup files again for every test
// file (it inlines them), so the hooks are registered in each file; a test
// file that imports this module gets the same instance as the setup file.
import * as path from 'node:path';
import { afterAll, afterEach, beforeEach, expect } from 'vitest';

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
 * Sets the options of the check for the tests that follow in this test file
 * (call it at the top of a test file, or in a setup file listed after
 * uv-drain/vitest to change the default for every file).
 */
export function configureLeakCheck(options: VitestLeakCheckOptions): void {
  const { enabled, strict, ...rest } = options;
  if (enabled !== undefined && typeof enabled !== 'boolean') {
    throw new TypeError('The "enabled" option must be a boolean');
  }
  if (strict !== undefined && strict !== 'all' && strict !== 'ref') {
    throw new TypeError(`The "strict" option must be 'all' or 'ref', received ${JSON.stringify(strict) ?? String(strict)}`);
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

interface Running {
  check: LeakCheck;
  allowed: string | null;
}

let running: Running | null = null;

/**
 * Per-test opt-out: call it inside a test to skip the leak check for that
 * test only. Say why in `reason`; it is kept for nothing but the reader.
 */
export function allowLeaks(reason?: string): void {
  if (running === null) throw new Error('allowLeaks() must be called inside a test (uv-drain/vitest is not set up, or no test is running)');
  running.allowed = reason ?? 'allowed';
}

// The file's own scope: what its collection (describe callbacks) and its
// top-level beforeAll hooks make before the first test begins must be gone
// once its last afterAll has run (this module's afterAll runs last: Vitest
// runs afterAll hooks in reverse order of registration, and setup files
// register first). What tests make is theirs and checked with them.
let fileCheck: { check: LeakCheck; atLoad: Set<string>; bornBeforeTests: Set<string> | null } | null = null;
if (settings.enabled !== false) {
  const options = checkOptions(settings);
  const own = options.ignore;
  // Handles only (the per-test checks see the file's timers), and only those
  // born before the first test: the rest are the tests' (end() does not wait for them).
  const check = leakCheck({
    ...options,
    ignore: (leak) => leak.kind !== 'handle' || !(fileCheck?.bornBeforeTests?.has(leak.id) ?? false) || own?.(leak) === true,
  });
  check.begin();
  fileCheck = { check, atLoad: new Set(snapshot().map((h) => h.id)), bornBeforeTests: null };
}

function closeCollectionWindow(): void {
  if (fileCheck === null || fileCheck.bornBeforeTests !== null) return;
  const atLoad = fileCheck.atLoad;
  fileCheck.bornBeforeTests = new Set(snapshot().filter((h) => !atLoad.has(h.id)).map((h) => h.id));
}

// The file's path, as its first test gives it (afterAll's own arguments differ between Vitest versions).
let filePath: string | undefined;

afterAll(async () => {
  const current = fileCheck;
  if (current === null) return;
  closeCollectionWindow();
  if (current.bornBeforeTests!.size === 0) {
    fileCheck = null;
    current.check.cancel();
    return;
  }
  const report = await current.check.end();
  fileCheck = null;
  if (report.ok) return;
  if (settings.strict === 'ref' && !report.leaks.some(holdsProcess)) {
    console.warn(leakError(report, '', filePath, 'file').message.replace(/^uv-drain:/, 'uv-drain (warning, strict: ref):'));
    return;
  }
  throw leakError(report, '', filePath, 'file');
}, 0);

// Timeout 0: no hook timer. A hook timer is a JS timer born after begin()
// and alive while end() runs; end() is bounded by its own grace.
beforeEach((context) => {
  running = null;
  filePath ??= context.task.file?.filepath;
  closeCollectionWindow();
  if (settings.enabled === false) return;
  const check = leakCheck(checkOptions(settings));
  running = { check, allowed: null };
  check.begin();
}, 0);

afterEach(async (context) => {
  const current = running;
  running = null;
  if (current === null) return;
  // Only a passing test is failed for a leak: a failing one has its own
  // error (and skipped its own cleanup, likely).
  if (current.allowed !== null || context.task.result?.state === 'fail') {
    current.check.cancel();
    return;
  }
  const report = await current.check.end();
  if (report.ok) return;
  const testName = context.task.fullTestName ?? context.task.name;
  if (settings.strict === 'ref' && !report.leaks.some(holdsProcess)) {
    // Nothing that would keep the process alive: a warning, not a failure.
    console.warn(leakError(report, testName, context.task.file?.filepath).message.replace(/^uv-drain:/, 'uv-drain (warning, strict: ref):'));
    return;
  }
  throw leakError(report, testName, context.task.file?.filepath);
}, 0);

/** What keeps the process alive: an active referenced handle that is not closing, or a referenced JS timer. */
function holdsProcess(leak: LeakReport['leaks'][number]): boolean {
  return leak.kind === 'timer' ? leak.ref : leak.active && leak.ref && !leak.closing;
}

function leakError(report: LeakReport, testName: string, file: string | undefined, scope = 'test'): LeakError {
  const where = file === undefined ? '' : ` (${relative(file)})`;
  const what = describeCount(report);
  const waited = `(waited ${Math.round(report.waitedMs)} ms)`;
  const title =
    scope === 'test'
      ? `uv-drain: test "${testName}"${where} left ${what} alive ${waited}:`
      : `uv-drain: the collection and beforeAll hooks of ${file === undefined ? 'this file' : relative(file)} left ${what} alive after its last afterAll ${waited}:`;
  const text = relativeStacks(formatLeakReport(report, { title }));
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
