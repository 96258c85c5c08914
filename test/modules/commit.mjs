// The commit module (commit-core.cjs) as an ES module file: named exports.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const core = require('./commit-core.cjs');

core.noteEvaluation(fileURLToPath(import.meta.url));
const mod = core.createCommitModule();

export const init = (ctx) => mod.init(ctx);
export const cleanup = (ctx) => mod.cleanup(ctx);
export const deinit = (ctx) => mod.deinit(ctx);
