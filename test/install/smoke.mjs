// The installed package on its own, in one process (it also runs under qemu,
// where child processes cannot start): both entries, the binary that loaded,
// capabilities, the README example, one drain and one leak check. Copied into
// a scratch project beside readme.mjs and run there: node smoke.mjs
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';

import * as uv from 'uv-drain';

const require = createRequire(import.meta.url);
const cjs = require('uv-drain');
assert.equal(cjs.countsFor, uv.countsFor, 'import and require share one instance');

const pkgDir = path.dirname(require.resolve('uv-drain/package.json'));
const nodeGypBuild = createRequire(path.join(pkgDir, 'package.json'))('node-gyp-build'); // uv-drain's own (pnpm does not hoist it)
const binary = path.relative(pkgDir, nodeGypBuild.path(pkgDir));
assert.equal(uv.capabilities.uvVersion, process.versions.uv);
assert.equal(uv.capabilities.tagging, true, 'the load-time probe accepted this libuv');

await import('./readme.mjs');
for (let i = 0; i < 3; i++) await new Promise(setImmediate); // its last line prints two iterations later

const server = uv.withOwner('smoke', () => net.createServer().listen(0)); // no host: with one, listen() makes its handle a tick later (README, withOwner)
await once(server, 'listening');
assert.equal(uv.countsFor('smoke').total, 1);
server.close();
const drained = await uv.whenDrained('smoke', { timeoutMs: 5000 });
assert.equal(uv.countsFor('smoke').total, 0, `drained: ${JSON.stringify(drained)}`);

const check = uv.leakCheck({ tracking: true });
check.begin();
const interval = setInterval(() => {}, 60_000);
const report = await check.end();
clearInterval(interval);
assert.equal(report.ok, false);
assert.deepEqual(report.leaks.map((l) => l.kind), ['timer']);

console.log(`smoke ok ${JSON.stringify({ arch: process.arch, node: process.version, uv: process.versions.uv, binary })}`);
