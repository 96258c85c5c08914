// Run under script(1) by test/node-handles.test.ts: this process has a pty as
// its controlling terminal. Opens it as a tty.ReadStream inside withOwner and
// prints one line, `UVD <json>`, with the owner's counts at each stage.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const tty = require('node:tty');
const { setImmediate: tick } = require('node:timers/promises');
const { countsFor, snapshot, withOwner } = require(path.join(__dirname, '..', '..', 'dist', 'index.js'));

const owner = 'tty-child';
const handles = () => {
  const { total, active, ref, closing } = countsFor(owner);
  return { total, active, ref, closing };
};

async function main() {
  const report = {};
  const fd = fs.openSync('/dev/tty', 'r+');
  report.isTTY = tty.isatty(fd);
  const stream = withOwner(owner, () => new tty.ReadStream(fd));
  report.created = handles();
  report.shape = snapshot()
    .filter((h) => h.owner === owner)
    .map((h) => ({ type: h.type, fd: h.fd === null ? 'null' : typeof h.fd }));
  stream.resume();
  // resume() starts reading on nextTick.
  for (let i = 0; i < 100 && handles().active === 0; i++) await tick();
  report.reading = handles();
  stream.unref();
  report.unref = handles();
  const closed = new Promise((resolve) =>
    stream.on('close', () => {
      // Socket 'close' comes from libuv's close callback.
      report.inClose = handles();
      report.leftovers = snapshot().filter((h) => h.owner !== null);
      resolve();
    }),
  );
  // The unref'd stream alone would let the loop end before its close callback.
  const keepAlive = setTimeout(() => {}, 10_000);
  stream.destroy();
  report.closing = handles();
  await closed;
  clearTimeout(keepAlive);
  process.stdout.write(`UVD ${JSON.stringify(report)}\n`);
}

main().catch((err) => {
  process.stdout.write(`UVD-ERROR ${err && err.stack}\n`);
  process.exitCode = 1;
});
