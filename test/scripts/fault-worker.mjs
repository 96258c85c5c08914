// Worker thread of fault-worker-terminate.mjs: runs an UnloadCoordinator on
// its own loop whose module is mid-drain when the parent terminates it (or,
// in 'exit', when the module itself calls process.exit from deinit).
// workerData.variant:
//   'cleanup-hang'  cleanup never returns (the unload's deadline is pending)
//   'never-drains'  a TCP server, a MessageChannel and raw fixture handles
//                   (timer, tcp, async) stay open; deinit says 'again'
//   'request-held'  a thread-pool request counted to the owner through the
//                   C API is held in the pool (the drain watcher holds the loop)
//   'closing'       cleanup closes 2000 raw handles: terminate arrives while
//                   their close callbacks are (or were just) pending
//   'polling'       like 'never-drains' with 5000 more raw handles, and the
//                   worker's own code keeps reading the loop (snapshot(),
//                   countsByOwner()) meanwhile: terminate lands inside a call
//   'exit'          deinit calls process.exit(0) with everything still open
// Posts { phase: 'draining', ... } once the module is mid-drain.
import { createRequire } from 'node:module';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import { MessageChannel, parentPort, workerData } from 'node:worker_threads';

const require = createRequire(import.meta.url);
const uv = require(fileURLToPath(new URL('../../dist/index.js', import.meta.url)));
const { binding } = require(fileURLToPath(new URL('../../dist/native.js', import.meta.url)));
const fx = require(fileURLToPath(new URL('../fixtures/build/Release/uv_drain_fixture.node', import.meta.url)));
fx.setApi(uv.capi);

const { variant } = workerData;
const NAME = `fault-worker-${variant}`;
let posted = false;
function draining() {
  if (posted) return;
  posted = true;
  parentPort.postMessage({
    phase: 'draining',
    watcher: binding.watcherHasHandle(),
    counts: uv.countsFor(NAME),
  });
}

const raw = [];
let server;
let channel;
const module = {
  init() {
    server = net.createServer().listen(0);
    channel = new MessageChannel();
    for (const kind of ['timer', 'tcp', 'async']) {
      const id = fx.create(kind, NAME);
      if (kind !== 'async') fx.start(id);
      raw.push(id);
    }
    if (variant === 'closing') for (let i = 0; i < 2000; i++) raw.push(fx.create('check', NAME));
    if (variant === 'polling') for (let i = 0; i < 5000; i++) raw.push(fx.create('check', NAME));
    if (variant === 'request-held') fx.queueWork(NAME, true, 0, () => {});
  },
  cleanup() {
    if (variant === 'cleanup-hang') {
      queueMicrotask(draining);
      return new Promise(() => {});
    }
    if (variant === 'closing') {
      for (const id of raw) fx.close(id);
      server.close();
      channel.port1.close();
      draining();
    }
    return undefined;
  },
  deinit() {
    if (variant === 'exit') process.exit(0);
    draining();
    return 'again';
  },
};

const coordinator = new uv.UnloadCoordinator({ timeoutMs: 60_000 });
await coordinator.load(NAME, module);
// Whatever happens, this worker is still running when the parent terminates it.
setInterval(() => {}, 1000);
coordinator.unload(NAME).catch(() => {});
if (variant === 'polling') {
  const poll = () => {
    uv.snapshot();
    uv.countsByOwner();
    setImmediate(poll);
  };
  poll();
}
