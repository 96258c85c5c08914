// Worker script for stress.mjs: loads uv-drain (by the absolute path of
// dist/index.js) and, with owner tracking on, tags a MessageChannel and a TCP
// server ('stress') and a server born after a DNS lookup ('stress-tracked'),
// then reports the owners' counts. With mode 'close' it closes everything,
// waits until uv-drain sees it gone and ends by itself; otherwise it keeps
// everything open for the parent to terminate it.
import { once } from 'node:events';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import { MessageChannel, parentPort, workerData } from 'node:worker_threads';
import { setImmediate as tick } from 'node:timers/promises';

const DIST = fileURLToPath(new URL('../../dist/index.js', import.meta.url));
const uv = createRequire(import.meta.url)(DIST);

// listen() with a host makes its handle after a (nextTick) lookup even for
// an IP literal: tracking is what makes that handle the owner's.
uv.trackOwners(true);
const { channel, server } = uv.withOwner('stress', () => ({
  channel: new MessageChannel(),
  server: net.createServer().listen(0, '127.0.0.1'),
}));
await once(server, 'listening');
const tracked = await uv.withOwner('stress-tracked', async () => {
  const s = net.createServer();
  s.listen(0, 'localhost');
  await once(s, 'listening');
  return s;
});
const counts = { stress: uv.countsFor('stress'), tracked: uv.countsFor('stress-tracked') };

if (workerData.mode !== 'close') {
  parentPort.postMessage({ counts });
} else {
  uv.trackOwners(false);
  channel.port1.close();
  channel.port2.close();
  server.close();
  tracked.close();
  while (uv.countsFor('stress').total + uv.countsFor('stress-tracked').total > 0) await tick();
  parentPort.postMessage({ counts, drained: uv.countsByOwner() });
}
