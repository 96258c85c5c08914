// Child-process script (run with `node`, not as a worker): the first access
// to process.stdout or process.stderr happens inside an owner, with owner
// tracking on. Node makes the stream's pipe/tty handle (and, for a tty, a
// SIGWINCH signal handle) lazily at that moment; they are Node's, not the
// owner's. Prints one JSON line: the handles born since the script started
// and the owner's counts, both read before anything else is written.
//
// usage: node first-stdio-write.mjs <stdout|stderr> <sync|async>
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const [stream, mode] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const uv = require(fileURLToPath(new URL('../../dist/index.js', import.meta.url)));

const baseline = new Set(uv.snapshot().map((h) => h.id));
uv.trackOwners(true);
if (mode === 'sync') {
  uv.withOwner('first-write', () => process[stream].write('hello\n'));
} else {
  await uv.withOwner('first-write', async () => {
    await Promise.resolve();
    process[stream].write('hello\n');
  });
}
uv.trackOwners(false);
const report = {
  born: uv.snapshot().filter((h) => !baseline.has(h.id)),
  counts: uv.countsFor('first-write'),
  byOwner: uv.countsByOwner(),
};
process.stdout.write(JSON.stringify(report) + '\n');
