// ES module entry: the same instance as the CommonJS entry (one loop state
// per thread, whichever way the package is loaded).
import uvDrain from './index.js';

export const { snapshot, stats, countsFor, countsByOwner, withOwner, trackOwners, capi, capabilities } =
  uvDrain;
export type { HandleInfo, LoopStats, OwnerCounts, CApi } from './index.js';
export default uvDrain;
