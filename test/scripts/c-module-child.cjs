// Run by test/c-module.test.ts in a child process:
//   node c-module-child.cjs naive|safe <commit file>
// Loads examples/c-module/commit_module.c (build/Release/commit_module.so),
// lets it commit for a while, then unloads it:
//  - naive: the way a host does it today (fixture.naiveUnload: init,
//    cleanup, one non-blocking deinit, dlclose at once). The module's close
//    callbacks and fs callbacks are still queued on the loop, so the process
//    is expected to die of a signal. Prints `UVD-NAIVE <json>` first, and
//    `UVD-SURVIVED` if it lives on (it must not).
//  - safe: uv-drain's C module binding (src/c-module.ts): cleanup, wait (loop iterations, no
//    idle handle) until deinit() is 0 and the owner has no handle and no
//    request, check callbacksInside() is empty, close(). Prints
//    `UVD-SAFE <json>` and exits 0.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const { binding } = require(path.join(root, 'dist', 'native.js'));
const { cModule } = require(path.join(root, 'dist', 'c-module.js'));
const { capi, countsFor } = require(path.join(root, 'dist', 'index.js'));
const fixture = require(path.join(root, 'test', 'fixtures', 'build', 'Release', 'uv_drain_fixture.node'));

const MODULE = path.join(root, 'build', 'Release', 'commit_module.so');
const NAME = 'commit_module';
const OWNER = 'c-module-child';

const [mode, commitFile] = process.argv.slice(2);
process.env.UV_DRAIN_COMMIT_FILE = commitFile;
fixture.setApi(capi);
const ownerId = binding.ownerId(OWNER);

const mapped = () => fs.readFileSync('/proc/self/maps', 'utf8').includes(fs.realpathSync(MODULE));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const acked = () => fixture.moduleQuery(MODULE, 'commit_module_acked', 'u64');

async function waitFor(cond, what, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(1);
  }
}

async function naive() {
  // init, cleanup, deinit (UV_EAGAIN: the timer and the server are closing,
  // the file's uv_fs_open is in flight) and dlclose, all in this one call.
  // Their close callbacks run in this very loop iteration's closing phase.
  const result = fixture.naiveUnload(MODULE, NAME, ownerId);
  process.stdout.write(`UVD-NAIVE ${JSON.stringify({ ...result, mapped: mapped(), counts: countsFor(OWNER) })}\n`);
  await sleep(500);
  process.stdout.write('UVD-SURVIVED\n');
}

async function safe() {
  const cm = cModule;
  const h = cm.open(MODULE, NAME, ownerId);
  const report = { init: cm.init(h) };
  await waitFor(() => acked() >= 3, 'three acknowledged commits');
  report.cleanup = cm.cleanup(h);
  report.firstDeinit = cm.deinit(h);
  await waitFor(() => {
    const c = countsFor(OWNER);
    return c.total === 0 && c.requests === 0 && cm.deinit(h) === 0;
  }, 'the module to drain');
  report.inside = cm.callbacksInside(h);
  report.acked = acked();
  cm.close(h);
  report.mappedAfterClose = mapped();
  // The loop goes on without the module.
  await sleep(100);
  report.lines = fs.readFileSync(commitFile, 'utf8').split('\n').filter(Boolean).map(Number);
  process.stdout.write(`UVD-SAFE ${JSON.stringify(report)}\n`);
}

(mode === 'naive' ? naive : safe)().catch((err) => {
  process.stdout.write(`UVD-ERROR ${err && err.stack}\n`);
  process.exitCode = 1;
});
