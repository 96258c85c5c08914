// Worker thread of churn-workers.mjs: loads uv-drain (dist/index.js by
// absolute path) and the native fixture on its own loop, tags raw handles
// through the C API and a MessageChannel and a TCP server through
// withOwner, loads and unloads a JS module with an UnloadCoordinator, closes
// the rest, waits for the drain and then either ends by itself
// (workerData.mode 'exit') or reports and waits to be terminated
// ('terminate', with its handles still open).
import { createRequire } from 'node:module';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import { MessageChannel, parentPort, workerData } from 'node:worker_threads';

const require = createRequire(import.meta.url);
const uv = require(fileURLToPath(new URL('../../dist/index.js', import.meta.url)));
const fx = require(fileURLToPath(new URL('../fixtures/build/Release/uv_drain_fixture.node', import.meta.url)));
fx.setApi(uv.capi);

const raw = ['timer', 'check', 'async'].map((kind) => {
  const id = fx.create(kind, 'churn-raw');
  if (kind !== 'async') fx.start(id);
  return id;
});
const { channel, server } = uv.withOwner('churn-js', () => ({
  channel: new MessageChannel(),
  server: net.createServer().listen(0),
}));

const coordinator = new uv.UnloadCoordinator({ timeoutMs: 10_000 });
let moduleServer;
await coordinator.load('churn-module', {
  init() {
    moduleServer = net.createServer().listen(0);
    setTimeout(() => {}, 1);
  },
  cleanup() {
    moduleServer.close();
  },
});
const loaded = uv.countsFor('churn-module').total;
const unloadReport = await coordinator.unload('churn-module');

const counts = { raw: uv.countsFor('churn-raw'), js: uv.countsFor('churn-js') };
if (workerData.mode === 'terminate') {
  parentPort.postMessage({ loaded, removed: unloadReport.removed, counts });
} else {
  for (const id of raw) fx.close(id);
  channel.port1.close();
  channel.port2.close();
  server.close();
  await Promise.all(['churn-raw', 'churn-js'].map((o) => uv.whenDrained(o, { timeoutMs: 10_000 })));
  await coordinator.quit();
  parentPort.postMessage({ loaded, removed: unloadReport.removed, counts, after: uv.countsByOwner() });
}
