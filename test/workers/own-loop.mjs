// Worker script: loads uv-drain (by the absolute path of dist/index.js) on
// the worker's own thread, tags a TCP server as 'shared' and a
// MessageChannel as 'worker-only', and reports what uv-drain sees from here.
// On the message 'close' it closes them, waits until uv-drain sees them
// gone, reports again and lets the thread end by itself.
import { once } from 'node:events';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import { MessageChannel, parentPort, threadId } from 'node:worker_threads';
import { setImmediate as tick } from 'node:timers/promises';

const DIST = fileURLToPath(new URL('../../dist/index.js', import.meta.url));
const uv = createRequire(import.meta.url)(DIST);

// listen() with a host makes its handle after a (nextTick) lookup even for
// an IP literal: tracking is what makes that handle the owner's.
uv.trackOwners(true);
const handlesBefore = uv.stats().handles;
const server = uv.withOwner('shared', () => net.createServer().listen(0, '127.0.0.1'));
await once(server, 'listening');
const channel = uv.withOwner('worker-only', () => new MessageChannel());
const snapshot = uv.snapshot();
uv.trackOwners(false);

parentPort.postMessage({
  threadId,
  handlesBefore,
  handlesAfter: uv.stats().handles,
  snapshot,
  shared: uv.countsFor('shared'),
  workerOnly: uv.countsFor('worker-only'),
  byOwner: uv.countsByOwner(),
});

await once(parentPort, 'message');
server.close();
channel.port1.close();
channel.port2.close();
while (uv.countsFor('shared').total + uv.countsFor('worker-only').total > 0) await tick();
parentPort.postMessage({
  closed: { shared: uv.countsFor('shared'), workerOnly: uv.countsFor('worker-only'), byOwner: uv.countsByOwner() },
});
