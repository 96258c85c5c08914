// The checks of one test file: each test in a scope of its own, each
// describe block's hooks in the block's, the file's collection by itself.
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
import { bornOutsideScopes, leakCheckOf, madeIn, reconfigure, type LeakCheck } from '../leaks';
import { currentScope, type Scope } from '../scopes';
import { matchers } from './matchers';
import { checkOptions, DEFAULTS, validate, type VitestLeakCheckOptions } from './options';
import { failureOf, leakError, relative, type Failure } from './report';

/** What uv-drain reads of Vitest's tasks. */
export interface SuiteLike {
  name: string;
  type: string;
  tasks?: SuiteLike[];
  file?: { filepath?: string };
  filepath?: string;
  fullTestName?: string;
  result?: { state?: string; errors?: unknown[] };
}

type Hook = ((...args: unknown[]) => unknown) & Record<PropertyKey, unknown>;
type SuiteHooks = { beforeEach: Hook[]; aroundAll: Hook[] };

/** The parts of Vitest's API the checks use (passed in by index.mts, which Vitest evaluates). */
export interface VitestApi {
  aroundAll(fn: (runSuite: () => Promise<void>, context: object, suite: SuiteLike) => Promise<void>, timeout?: number): void;
  aroundEach(fn: (runTest: () => Promise<void>, context: { task: SuiteLike }) => Promise<void>, timeout?: number): void;
  expect: { extend(matchers: object): void };
  getSuiteHooks: ((suite: object) => SuiteHooks | undefined) | undefined;
}

interface TestState {
  check: LeakCheck;
  options: VitestLeakCheckOptions;
  allowed: string | null;
}

/** What a test file gets from uv-drain/vitest. */
export interface FileApi {
  configureLeakCheck(options: VitestLeakCheckOptions): void;
  allowLeaks(reason?: string): void;
}

/** Sets the checks up for the test file being evaluated now (the setup file runs once per test file). */
export function setUpFile(vitest: VitestApi): FileApi {
  const file = new FileChecks(vitest.getSuiteHooks);
  // Timeout 0: no hook timer. A hook timer would be a JS timer alive while
  // a check ends; end() is bounded by its own grace.
  vitest.aroundAll(async (runSuite, {}, suite) => file.aroundFile(runSuite, suite), 0);
  vitest.aroundEach(async (runTest, { task }) => file.aroundTest(runTest, task), 0);
  vitest.expect.extend(matchers(() => file.settings));
  return {
    configureLeakCheck: (options) => file.configure(options),
    allowLeaks: (reason) => file.allowLeaks(reason),
  };
}

class FileChecks {
  settings: VitestLeakCheckOptions = { ...DEFAULTS };
  /** The running tests, by the scope of their check. */
  private readonly tests = new Map<Scope, TestState>();
  /** The checks of the describe blocks (and the file) running now. */
  private readonly blocks = new Map<object, LeakCheck>();
  /** The collection: from the setup file's load to the start of the file's suite. */
  private collection: LeakCheck | null;
  private collectionMadeBefore: ReturnType<typeof bornOutsideScopes> | null = null;

  constructor(private readonly suiteHooks: VitestApi['getSuiteHooks']) {
    // Always tracked (the file's options are not known yet); with tracking
    // off for the file, only its handles are reported.
    const options = checkOptions(this.settings);
    this.collection = leakCheckOf(
      { ...options, ignore: (leak) => !this.scoped() && leak.kind !== 'handle' },
      { name: 'collection' },
      (capture, key) => this.collectionMadeBefore?.(capture, key) ?? false,
    );
    this.collection.begin();
  }

  /**
   * At the top of a test file (or in a hook): for the rest of the file;
   * in a setup file listed after uv-drain/vitest: every file's default;
   * inside a test: that test only (tracking fixed, enabled: false = allowLeaks).
   */
  configure(options: VitestLeakCheckOptions): void {
    const test = this.runningTest();
    if (test !== null) {
      if (options.tracking !== undefined && options.tracking !== (test.options.tracking ?? true)) {
        throw new RangeError('The "tracking" option cannot change inside a test (set it at the top of the file)');
      }
      const next = { ...test.options, ...options };
      validate(next);
      reconfigure(test.check, { ...checkOptions(next), context: this.scoped() });
      test.options = next;
      if (options.enabled === false) test.allowed = 'enabled: false';
      return;
    }
    const next = { ...this.settings, ...options };
    validate(next);
    this.settings = next;
  }

  allowLeaks(reason?: string): void {
    const test = this.runningTest();
    if (test === null) throw new Error('allowLeaks() must be called inside a test (uv-drain/vitest is not set up, or no test is running)');
    test.allowed = reason ?? 'allowed';
  }

  private runningTest(): TestState | null {
    const scope = currentScope();
    return scope === null ? null : (this.tests.get(scope) ?? null);
  }

  private scoped(): boolean {
    return this.settings.enabled !== false && (this.settings.tracking ?? true);
  }

  async aroundFile(runSuite: () => Promise<void>, file: SuiteLike): Promise<void> {
    // The collection is over: what it made is what was born until now outside every scope.
    this.collectionMadeBefore = bornOutsideScopes();
    let failures: Failure[] = [];
    if (this.scoped()) {
      for (const suite of suitesOf(file)) this.scopeHooks(suite);
      failures = await this.runBlock(file, runSuite);
    } else {
      await runSuite();
    }
    const check = this.collection;
    this.collection = null;
    if (check === null) return;
    if (this.settings.enabled === false || (file.result?.errors?.length ?? 0) > 0) {
      check.cancel();
    } else {
      const report = await check.end();
      const subject = `${fileName(file)}: its collection (describe callbacks, top-level code) left`;
      const failure = failureOf(report, subject, 'after its last afterAll', this.settings.strict);
      if (failure !== null) failures.unshift(failure);
    }
    if (failures.length > 0) throw leakError(failures);
  }

  // A block's beforeEach hooks run inside each test's scope: they are moved
  // into the block's. Nested blocks get an aroundAll of their own (outermost).
  private scopeHooks(suite: SuiteLike): void {
    const hooks = this.suiteHooks?.(suite);
    if (hooks === undefined) return;
    const blocks = this.blocks;
    hooks.beforeEach = hooks.beforeEach.map((hook) => {
      const inBlock = function (this: unknown, ...args: unknown[]) {
        const check = blocks.get(suite);
        return check === undefined ? hook.apply(this, args) : check.run(() => hook.apply(this, args));
      };
      return Object.assign(inBlock, hook) as Hook;
    });
    if ('filepath' in suite) return; // the file: its aroundAll is this module's own
    const around = async (runSuite: () => Promise<void>) => {
      const failures = await this.runBlock(suite, runSuite);
      if (failures.length > 0) throw leakError(failures);
    };
    hooks.aroundAll.unshift(around as unknown as Hook);
  }

  private async runBlock(suite: SuiteLike, runSuite: () => Promise<void>): Promise<Failure[]> {
    const scope: Scope = { name: `block ${suite.name}` };
    const check = leakCheckOf({ ...checkOptions(this.settings), context: true }, scope, (capture) => capture?.scope === scope);
    check.begin();
    this.blocks.set(suite, check);
    try {
      await check.run(runSuite);
    } finally {
      this.blocks.delete(suite);
    }
    // A block whose own hooks failed has its error (and skipped its cleanup, likely).
    if (this.settings.enabled === false || (suite.result?.errors?.length ?? 0) > 0) {
      check.cancel();
      return [];
    }
    const report = await check.end();
    if (report.ok) return [];
    const what = 'filepath' in suite ? `${fileName(suite)}: its top-level hooks` : `describe "${suite.name}" (${fileName(suite)}): its hooks`;
    const failure = failureOf(report, `${what} left`, 'after its afterAll', this.settings.strict);
    return failure === null ? [] : [failure];
  }

  async aroundTest(runTest: () => Promise<void>, task: SuiteLike): Promise<void> {
    if (this.settings.enabled === false) return runTest();
    const options = { ...this.settings };
    const scope: Scope = { name: `test ${task.name}` };
    const byContext = this.scoped();
    const check = leakCheckOf(
      { ...checkOptions(options), context: byContext },
      scope,
      byContext ? madeIn(scope) : null,
    );
    const state: TestState = { check, options, allowed: null };
    this.tests.set(scope, state);
    check.begin();
    try {
      await check.run(runTest);
    } finally {
      this.tests.delete(scope);
    }
    // Only a passing test is failed for a leak: a failing one has its own
    // error (and skipped its own cleanup, likely).
    if (state.allowed !== null || task.result?.state === 'fail') {
      check.cancel();
      return;
    }
    const report = await check.end();
    if (report.ok) return;
    const subject = `test "${task.fullTestName ?? task.name}" (${fileName(task)}) left`;
    const failure = failureOf(report, subject, '', state.options.strict);
    if (failure !== null) throw leakError([failure]);
  }
}

function* suitesOf(suite: SuiteLike): Generator<SuiteLike> {
  yield suite;
  for (const task of suite.tasks ?? []) if (task.type === 'suite') yield* suitesOf(task);
}

function fileName(task: SuiteLike): string {
  const file = task.filepath ?? task.file?.filepath;
  return file === undefined ? 'this file' : relative(file);
}
