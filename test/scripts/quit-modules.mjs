// Run by test/quit.test.ts in a child process:
//   node quit-modules.mjs reverse|parallel <dir>
// Loads four modules into an UnloadCoordinator — the commit module of
// test/modules/ as an object, as an ES module file and as a CommonJS file,
// and the C module examples/c-module/commit_module.c — lets clients outside
// the modules ask for commits continuously, then calls quit({ order }) while
// commits flow. Prints `UVD-QUIT <json>` (the report, what every client saw
// acknowledged, the C module's acknowledged count) and then simply returns:
// the process must end by itself, with nothing left holding the loop.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UnloadCoordinator, capi } from '../../dist/index.mjs';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const modules = path.join(here, '..', 'modules');
const core = require('../modules/commit-core.cjs');
const { startDriver } = require('../modules/driver.cjs');
const fx = require('../fixtures/build/Release/uv_drain_fixture.node');
fx.setApi(capi);

const [order, dir] = process.argv.slice(2);
const COMMIT_SO = fs.realpathSync(path.join(here, '..', '..', 'build', 'Release', 'commit_module.so'));
const cFile = path.join(dir, 'commit_module.log');
process.env.UV_DRAIN_COMMIT_FILE = cFile;

const js = {
  'journal-object': core.createCommitModule(),
  'journal-mjs': path.join(modules, 'commit.mjs'),
  'journal-cjs': path.join(modules, 'commit.cjs'),
};

const coordinator = new UnloadCoordinator();
const events = [];
for (const event of ['load', 'cleanup', 'drained', 'unloaded', 'stalled', 'error']) {
  coordinator.on(event, (arg) => events.push([event, typeof arg === 'string' ? arg : arg?.name ?? String(arg)]));
}
let cAcked = -1;
coordinator.on('drained', (name) => {
  if (name === 'commit_module') cAcked = fx.moduleQuery(COMMIT_SO, 'commit_module_acked', 'u64');
});

const fetchLine = (port) =>
  new Promise((resolve, reject) => {
    let data = '';
    const socket = net.connect(port, '127.0.0.1');
    socket.setEncoding('utf8');
    socket.on('data', (d) => (data += d));
    socket.on('error', reject);
    socket.on('close', () => resolve(data));
  });

const names = ['journal-object', 'commit_module', 'journal-mjs', 'journal-cjs'];
const drivers = {};
for (const name of names) {
  if (name === 'commit_module') {
    await coordinator.load(name, { native: COMMIT_SO });
    continue;
  }
  core.configure(name, { file: path.join(dir, `${name}.log`) });
  await coordinator.load(name, js[name]);
  drivers[name] = startDriver(core.instances.get(name).port, { clients: 2, intervalMs: 2, prefix: `${name}:` });
}

// Commits flow: every JS module has acknowledged some, the C module too.
await Promise.all(Object.values(drivers).map((d) => d.whenAcked(20)));
const cPort = fx.moduleQuery(COMMIT_SO, 'commit_module_port', 'int');
while (Number(await fetchLine(cPort)) < 3);

const report = await coordinator.quit({ order });
await Promise.all(Object.values(drivers).map((d) => d.closed));

const out = {
  order,
  loadOrder: names,
  report: { ...report, failed: report.failed.map((f) => ({ name: f.name, message: f.error.message })) },
  js: Object.fromEntries(
    Object.entries(drivers).map(([name, d]) => [
      name,
      { file: core.instances.get(name).file, acked: [...d.acked], nacked: [...d.nacked], error: String(core.instances.get(name).error ?? '') },
    ]),
  ),
  c: { file: cFile, acked: cAcked, mappedAfter: fs.readFileSync('/proc/self/maps', 'utf8').includes(COMMIT_SO) },
  events,
};
process.stdout.write(`UVD-QUIT ${JSON.stringify(out)}\n`);
