// The commit module (commit-core.cjs) as a CommonJS file: module.exports is
// the hooks object (the coordinator takes the namespace's default).
'use strict';
const core = require('./commit-core.cjs');

core.noteEvaluation(__filename);
module.exports = core.createCommitModule();
