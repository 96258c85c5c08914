// Fault injection (run by test/faults.test.ts in a child process):
//   node test/scripts/fault-worker-terminate.mjs [reps=4] [variant,variant...]
// Starts workers (fault-worker.mjs) whose UnloadCoordinator is mid-drain and
// terminates them (worker.terminate(); variant 'exit' ends itself with
// process.exit(0) from deinit). Meanwhile the main thread runs uv-drain with
// a coordinator and a module of its own and a loopback echo server: after
// every worker it must still answer, and own exactly what it owned before.
// At the end the main module is unloaded, the coordinator quits and the
// process ends by itself (exit code 0). Prints one JSON summary line.
import { once } from 'node:events';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

const require = createRequire(import.meta.url);
const uv = require(fileURLToPath(new URL('../../dist/index.js', import.meta.url)));
const WORKER = fileURLToPath(new URL('./fault-worker.mjs', import.meta.url));
const ALL = ['cleanup-hang', 'never-drains', 'request-held', 'closing', 'polling', 'exit'];
const REPS = Number(process.argv[2] ?? 4);
const VARIANTS = process.argv[3] ? process.argv[3].split(',') : ALL;

const echo = net.createServer((socket) => socket.pipe(socket)).listen(0, '127.0.0.1');
await once(echo, 'listening');
const port = echo.address().port;
function echoOnce(text) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (d) => {
      data += d;
      if (data === text) socket.end();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(data));
    socket.write(text);
  });
}

const coordinator = new uv.UnloadCoordinator({ timeoutMs: 10_000 });
let mainServer;
await coordinator.load('fault-main', {
  init() {
    mainServer = net.createServer().listen(0);
  },
  cleanup() {
    mainServer.close();
  },
});
const mainOwners = JSON.stringify(uv.countsByOwner());

const results = {};
const problems = [];
let echoes = 0;
for (let rep = 0; rep < REPS; rep++) {
  for (const variant of VARIANTS) {
    const worker = new Worker(WORKER, { workerData: { variant } });
    const exited = once(worker, 'exit');
    let message = null;
    if (variant !== 'exit') {
      [message] = await once(worker, 'message');
      await worker.terminate();
    }
    const [code] = await exited;
    const key = `${variant}:${code}:${message === null ? '-' : `watcher=${message.watcher},total=${message.counts.total}`}`;
    results[key] = (results[key] ?? 0) + 1;
    const answer = await echoOnce(`after ${variant} ${rep}`);
    if (answer === `after ${variant} ${rep}`) echoes++;
    else problems.push(`echo after ${variant}: ${JSON.stringify(answer)}`);
    const owners = JSON.stringify(uv.countsByOwner());
    if (owners !== mainOwners) problems.push(`main owners after ${variant}: ${owners}`);
  }
}

const unloaded = await coordinator.unload('fault-main');
const quit = await coordinator.quit();
echo.close();
console.log(
  JSON.stringify({
    workers: REPS * VARIANTS.length,
    results,
    echoes,
    problems,
    mainUnloaded: unloaded.removed,
    quitFailed: quit.failed.length,
    holding: quit.holding.map((h) => h.type),
  }),
);
