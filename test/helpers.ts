// Shared test helpers. Everything here waits on real loop events; nothing
// mocks libuv or Node.
import { setImmediate as tick } from 'node:timers/promises';
import { expect } from 'vitest';
import { countsFor, snapshot, stats } from '../dist/index.js';

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
