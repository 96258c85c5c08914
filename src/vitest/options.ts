// The options of uv-drain/vitest's checks: leakCheck()'s, plus its own.
import { leakCheck, type LeakCheckOptions } from '../leaks';

/** Options of the checks run around every test, block and file. */
export interface VitestLeakCheckOptions extends LeakCheckOptions {
  /**
   * Creation stacks, exact JS timers and scopes. Default true here (false in
   * leakCheck()). With tracking off JS timers are not checked: Vitest's own
   * timers run during tests, and only their creation stacks tell them apart
   * from the test's.
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

export const DEFAULTS: VitestLeakCheckOptions = { tracking: true };

/** Throws a TypeError or RangeError naming the option for anything leakCheck() or this module refuses. */
export function validate(options: VitestLeakCheckOptions): void {
  const { enabled, strict } = options;
  if (enabled !== undefined && typeof enabled !== 'boolean') {
    throw new TypeError('The "enabled" option must be a boolean');
  }
  if (strict !== undefined && strict !== 'all' && strict !== 'ref') {
    throw new TypeError(`The "strict" option must be 'all' or 'ref', received ${JSON.stringify(strict) ?? String(strict)}`);
  }
  leakCheck(checkOptions(options));
}

/** leakCheck()'s options for these. */
export function checkOptions(options: VitestLeakCheckOptions): LeakCheckOptions {
  const { enabled: _enabled, strict: _strict, ...rest } = options;
  const tracking = rest.tracking ?? true;
  // Untracked timers are only counted: Vitest's throttling timer would count too.
  const ignoreTypes = tracking ? rest.ignoreTypes : [...(rest.ignoreTypes ?? []), 'Timeout', 'Immediate'];
  return { ...rest, tracking, ignoreTypes };
}
