// uv-drain/vitest: leak checks around every test, describe block and test
// file, and two matchers (file-checks.ts has the scopes).
//
// Listed in `setupFiles`. Vitest evaluates setup files itself, once per test
// file; this module only hands Vitest's API to ./file-checks.js, which Node
// loads like any dependency. A test file that imports this module gets the
// instance its setup ran in. Where uv-drain cannot run (another platform, a
// libuv layout its probe does not confirm), ./unsupported.js warns and
// checks nothing.
import { aroundAll, aroundEach, expect, TestRunner } from 'vitest';

import platform from '../../install/platform.cjs';
import { UvDrainError } from '../errors.js';
import type { FileApi, VitestApi } from './file-checks.js';
import type { DrainMatcherOptions } from './matchers.js';
import type { VitestLeakCheckOptions } from './options.js';

export type { LeakCheckOptions, LeakReport } from '../index.js';
export type { DrainMatcherOptions } from './matchers.js';
export type { VitestLeakCheckOptions } from './options.js';

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
    toLeakHandles(options?: import('../index.js').LeakCheckOptions): Promise<void>;
  }
}

const file: FileApi = await setUp();

async function setUp(): Promise<FileApi> {
  try {
    if (!platform.isSupported()) throw new UvDrainError(platform.ERROR_CODE, platform.unsupportedMessage());
    return (await import('./file-checks.js')).setUpFile({
      aroundAll: aroundAll as unknown as VitestApi['aroundAll'],
      aroundEach: aroundEach as unknown as VitestApi['aroundEach'],
      expect,
      // Public since Vitest 4.1.
      getSuiteHooks: (TestRunner as unknown as { getSuiteHooks?: VitestApi['getSuiteHooks'] }).getSuiteHooks,
    });
  } catch (err) {
    const { cannotRun, unsupportedFile } = await import('./unsupported.js');
    if (!cannotRun(err)) throw err;
    return unsupportedFile(expect, err);
  }
}

/**
 * Sets the options of the checks. At the top of a test file (or in a hook):
 * for the rest of that file; in a setup file listed after uv-drain/vitest:
 * the default of every file; inside a test: for that test only (there
 * `tracking` cannot change, and `enabled: false` is allowLeaks()).
 */
export function configureLeakCheck(options: VitestLeakCheckOptions): void {
  file.configureLeakCheck(options);
}

/**
 * Per-test opt-out: call it inside a test to skip the leak check for that
 * test only. Say why in `reason`; it is kept for nothing but the reader.
 */
export function allowLeaks(reason?: string): void {
  file.allowLeaks(reason);
}
