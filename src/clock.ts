// Real timers and a real clock, taken when uv-drain loads. A test's fake
// timers (vi.useFakeTimers, @sinonjs/fake-timers) replace the global
// setTimeout, setImmediate, Date and sometimes performance; uv-drain's own
// waits and deadlines must keep real time, or a check run while a test left
// fake timers installed would never end. node:timers' exports are Node's
// own functions, which fake timers leave alone.
import * as timers from 'node:timers';

const perf = globalThis.performance;
const realNow = perf.now.bind(perf);

export const setTimeout: typeof timers.setTimeout = timers.setTimeout;
export const clearTimeout: typeof timers.clearTimeout = timers.clearTimeout;
export const setImmediate: typeof timers.setImmediate = timers.setImmediate;
export const nextTick: typeof process.nextTick = process.nextTick.bind(process);

/** Milliseconds on the real monotonic clock (performance.now as it was at load). */
export function now(): number {
  return realNow();
}
