// npm start: a live per-owner table of real handles.
//
// Three owners make real handles (an HTTP server and its keep-alive client
// sockets, a child process with its stdio pipes, a file watcher and a timer);
// the table is printed while they run, then everything is closed and the
// table is printed again once the last close callback has run. The process
// then ends by itself.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import { countsByOwner, countsFor, snapshot, stats, trackOwners, withOwner } from 'uv-drain';

trackOwners(true);

function table(title) {
  const rows = Object.entries(countsByOwner()).map(([owner, c]) => ({ owner, ...c }));
  const loose = snapshot().filter((h) => h.owner === null);
  rows.push({ owner: '(no owner)', total: loose.length, active: loose.filter((h) => h.active).length,
    ref: loose.filter((h) => h.ref).length, closing: loose.filter((h) => h.closing).length, requests: '', timers: '' });
  console.log(`\n${title}`);
  console.table(rows);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uv-drain-demo-'));
const agent = new http.Agent({ keepAlive: true });

const server = await withOwner('web', async () => {
  const s = http.createServer((req, res) => res.end('ok'));
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve));
  return s;
});
const { port } = server.address();
await withOwner('client', () =>
  Promise.all([1, 2].map(() => new Promise((resolve) =>
    http.get({ port, host: '127.0.0.1', agent }, (res) => res.resume().on('end', resolve))))));

const child = withOwner('jobs', () => spawn(process.execPath, ['-e', 'process.stdin.resume()']));
const watcher = withOwner('jobs', () => fs.watch(dir));
const heartbeat = withOwner('jobs', () => setInterval(() => {}, 50));

table('While running');
console.log('web:', countsFor('web'));
console.log('handles sorted by owner:');
for (const h of snapshot().filter((x) => x.owner !== null)) {
  console.log(`  ${h.id}  ${h.type.padEnd(8)} ${h.owner.padEnd(7)} active=${h.active} ref=${h.ref} fd=${h.fd} ${h.module}`);
}

// Close everything; closing handles are still counted until libuv has run
// their close callbacks.
server.close();
agent.destroy();
child.stdin.end();
watcher.close();
clearInterval(heartbeat);
table('Right after close() (close callbacks pending)');

await new Promise((resolve) => child.on('close', resolve));
while (Object.keys(countsByOwner()).length > 0) await tick();
table('After the last close callback');
console.log('loop:', stats());
fs.rmSync(dir, { recursive: true, force: true });
trackOwners(false);
await sleep(0);
