// Run by test/attribution-stress.test.ts (and by hand under ASan):
//   node attribution-stress.mjs <iterations>
// The pattern that once crashed birth matching: a host with an EventEmitter,
// an http server and a job scheduler of its own; plugins loaded by path
// register a listener, a request handler and jobs; the host triggers them
// while it opens and closes handles of its own (so the queue's tail keeps
// changing between a birth's announcement and its resolution), with and
// without creation stacks, with failed spawns and drain watchers coming and
// going. Every iteration checks the plugins' counts, releases them and quits;
// prints `UVD-STRESS <json>` and returns (the process must end by itself).
import * as http from 'node:http';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UnloadCoordinator, countsFor } from '../../dist/index.mjs';

const require = createRequire(import.meta.url);
const plugins = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'plugins');
const { host } = require('../plugins/host/api.cjs');
const iterations = Number(process.argv[2] ?? 50);
const NAMES = ['listener', 'handler', 'job', 'spawner'];

function get(port, pathname) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: pathname, agent: false }, (res) => {
        res.resume();
        res.on('end', resolve);
      })
      .on('error', reject);
  });
}

/** Host handles born and closed around the plugins' births. */
function churn(n) {
  for (let i = 0; i < n; i++) {
    const server = net.createServer().listen(0);
    server.close();
    clearTimeout(setTimeout(() => {}, 1000));
  }
}

function expectCounts(name, want) {
  const got = countsFor(name);
  for (const [k, v] of Object.entries(want)) {
    if (got[k] !== v) throw new Error(`${name}: ${k} = ${got[k]}, expected ${v} (${JSON.stringify(got)})`);
  }
}

const port = await host.start();
for (let i = 0; i < iterations; i++) {
  const coordinator = new UnloadCoordinator({ stacks: i % 2 === 0, timeoutMs: 10_000 });
  for (const name of NAMES) await coordinator.load(name, path.join(plugins, name, 'index.cjs'));
  churn(3);
  host.events.emit('start');
  churn(3);
  await Promise.all([get(port, '/subscribe'), host.runJobsOnce()]);
  churn(3);
  expectCounts('listener', { total: 1, timers: 1 });
  expectCounts('handler', { total: 1, timers: 1 });
  expectCounts('job', { total: 1, timers: 1 });
  // The failed spawn's handle is the spawner's while it closes.
  for (let t = 0; t < 100 && countsFor('spawner').closing > 0; t++) await new Promise(setImmediate);
  expectCounts('spawner', { total: 2, closing: 0 }); // the helper and its stdin pipe
  for (const name of NAMES) await host.release(name);
  const report = await coordinator.quit({ order: i % 3 === 0 ? 'parallel' : 'reverse' });
  const kept = report.modules.filter((m) => !m.removed);
  if (kept.length > 0) throw new Error(`not removed: ${kept.map((m) => m.name)}`);
  host.reset();
}
await host.stop();
console.log(`UVD-STRESS ${JSON.stringify({ iterations })}`);
