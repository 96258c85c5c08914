// expect(owner).toHaveDrained() and expect(fn).toLeakHandles().
import { countsFor, snapshot } from '../accounting';
import { whenDrained } from '../drain';
import { formatLeakReport, leakCheck, leakCount, type LeakCheckOptions, type LeakReport } from '../leaks';
import { checkOptions, type VitestLeakCheckOptions } from './options';
import { relativeStacks } from './report';

export interface DrainMatcherOptions {
  /** How long toHaveDrained() waits for the owner to drain, in ms (default 1000). */
  timeoutMs?: number;
}

interface MatcherThis {
  isNot: boolean;
  utils: { printReceived(value: unknown): string };
}

interface MatcherResult {
  pass: boolean;
  message: () => string;
}

/** The matchers, for expect.extend(); `settings` gives the file's options when a matcher runs. */
export function matchers(settings: () => VitestLeakCheckOptions): Record<string, (this: MatcherThis, received: unknown, ...args: never[]) => Promise<MatcherResult>> {
  return {
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

    // A window check, in the test's own scope: what fn leaves behind stays the test's too.
    async toLeakHandles(this: MatcherThis, fn: unknown, options: LeakCheckOptions = {}) {
      if (typeof fn !== 'function') {
        throw new TypeError(`toLeakHandles() expects a function, received ${this.utils.printReceived(fn)}`);
      }
      const check = leakCheck(checkOptions({ ...settings(), enabled: undefined, ...options }));
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
            ? relativeStacks(formatLeakReport(report, { title: `expected the function not to leak, but it left ${leakCount(report)} alive:` }))
            : 'expected the function to leave a handle or JS timer alive, but it left nothing',
      };
    },
  };
}
