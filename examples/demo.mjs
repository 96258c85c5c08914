// npm start: the unload coordinator on real work.
//
// A JS module (a TCP journal service) and a C module (commit_module.so, raw
// libuv timer + tcp server + uv_fs writes) both commit records to disk. A
// client keeps sending commits to the journal. The demo shows the live
// per-owner table, unloads the journal while commits flow, then quits
// gracefully: no process.exit, the process ends by itself.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UnloadCoordinator, countsByOwner, snapshot, withOwner } from 'uv-drain';

const here = path.dirname(fileURLToPath(import.meta.url));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uv-drain-demo-'));
process.env.JOURNAL_FILE = path.join(dir, 'journal.log');
process.env.UV_DRAIN_COMMIT_FILE = path.join(dir, 'c-module.log');

function table(title) {
  console.log(`\n${title}`);
  const rows = Object.entries(countsByOwner()).map(([owner, c]) => ({ owner, ...c }));
  const loose = snapshot().filter((h) => h.owner === null);
  rows.push({ owner: '(no owner)', total: loose.length, active: loose.filter((h) => h.active).length,
    ref: loose.filter((h) => h.ref).length, closing: loose.filter((h) => h.closing).length });
  console.table(rows);
}

const coordinator = new UnloadCoordinator({ timeoutMs: 10_000 });
for (const event of ['load', 'cleanup', 'drained', 'stalled']) {
  coordinator.on(event, (name) => console.log(`  [${event}] ${typeof name === 'string' ? name : name.name}`));
}
// A module is an object with init/cleanup/deinit (here the ES module's
// namespace, so the demo can ask it for its port), or a file path.
const journal = await import('./modules/journal.mjs');
await coordinator.load('journal', journal);
await coordinator.load('c-commits', {
  native: path.join(here, '../build/Release/commit_module.so'),
  symbols: 'commit_module',
});

// A client outside both modules: one commit every millisecond, acks counted.
let sent = 0;
let acks = 0;
const client = withOwner('client', () => net.connect(journal.port(), '127.0.0.1'));
client.on('data', (d) => (acks += String(d).split('\n').length - 1));
client.on('error', () => {});
const pump = withOwner('client', () =>
  setInterval(() => {
    if (client.writable) client.write(`commit ${++sent}\n`);
  }, 1));

await new Promise((resolve) => setTimeout(resolve, 300));
table('Both modules running, commits flowing');

console.log('\nUnloading "journal" while the client keeps sending...');
const report = await coordinator.unload('journal');
const lines = fs.readFileSync(process.env.JOURNAL_FILE, 'utf8').split('\n').filter(Boolean).length;
console.log(`  removed=${report.removed} in ${report.durationMs.toFixed(1)} ms, deinit called ${report.deinitCalls}x`);
console.log(`  acknowledged commits: ${journal.stats().acked}, lines on disk: ${lines}`);
clearInterval(pump);
client.destroy();
table('After the journal was removed');

console.log('\nQuitting...');
const quit = await coordinator.quit();
const cLines = fs.readFileSync(process.env.UV_DRAIN_COMMIT_FILE, 'utf8').split('\n').filter(Boolean).length;
for (const m of [report, ...quit.modules]) {
  console.log(`  ${m.name}: removed=${m.removed}, ${m.durationMs.toFixed(1)} ms`);
}
console.log(`  C module lines on disk: ${cLines}`);
console.log(`  handles still holding the loop: ${quit.holding.length === 0 ? 'none' : ''}`);
for (const h of quit.holding) console.log(`    ${h.type} owner=${h.owner} module=${h.module}`);
fs.rmSync(dir, { recursive: true, force: true });
process.on('exit', (code) => console.log(`\nThe loop ran dry; exiting by itself with code ${code}.`));
