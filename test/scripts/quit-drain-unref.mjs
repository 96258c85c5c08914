// Run by test/drain.test.ts in a child process: waiting for an owner that
// only has an unref'd active handle must not keep the process alive. A raw
// uv timer of the test fixture (tagged "unref'd"), started then unref'd;
// whenDrained() waits on it and never resolves; the process must still end
// by itself (exit code 0), printing `UVD-EXIT <json>` from 'exit'.
import { createRequire } from 'node:module';
import { capi, countsFor, whenDrained } from '../../dist/index.mjs';

const require = createRequire(import.meta.url);
const fx = require('../fixtures/build/Release/uv_drain_fixture.node');
fx.setApi(capi);

const OWNER = "unref'd";
const id = fx.create('timer', OWNER);
fx.start(id);
fx.unref(id);

let settled = 'pending';
whenDrained(OWNER).then(
  () => (settled = 'resolved'),
  () => (settled = 'rejected'),
);
process.on('exit', (code) => {
  process.stdout.write(`UVD-EXIT ${JSON.stringify({ code, settled, counts: countsFor(OWNER) })}\n`);
});
