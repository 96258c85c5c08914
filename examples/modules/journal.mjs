// A JS module for the demo: a tiny journal service. Clients send lines over
// TCP; each line is appended to a file and fsync'ed, then acknowledged.
// Cleanup stops accepting, lets the commits in flight finish and hangs up on
// the clients in paced slices; deinit says 'again' until all that is done.
import fs from 'node:fs/promises';
import net from 'node:net';

let server;
let file;
let heartbeat;
const sockets = new Set();
let inFlight = 0;
let acked = 0;
let chain = Promise.resolve();

export const stats = () => ({ acked, inFlight });
export const port = () => server.address().port;

export async function init() {
  file = await fs.open(process.env.JOURNAL_FILE, 'a');
  heartbeat = setInterval(() => {}, 100);
  server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let buffered = '';
    socket.on('data', (data) => {
      buffered += data;
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl + 1);
        buffered = buffered.slice(nl + 1);
        commit(line, socket);
      }
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
}

function commit(line, socket) {
  inFlight++;
  // One commit at a time, in order: write, fsync, then acknowledge.
  chain = chain
    .then(() => file.write(line))
    .then(() => file.sync())
    .then(() => {
      acked++;
      if (!socket.destroyed) socket.write('ok\n');
    })
    .finally(() => inFlight--);
}

export function cleanup(ctx) {
  clearInterval(heartbeat);
  server.close();
  // Stop reading (what is not acknowledged was never committed); finish
  // the commits in flight, send their acks, then hang up: with many clients,
  // a budgeted slice of them per loop iteration (ctx.paced), so that the
  // host goes on serving while this module winds down.
  for (const socket of sockets) socket.pause();
  chain = chain.then(async () => {
    await ctx.paced([...sockets], (socket) => socket.end(() => socket.destroy()));
    await file.close();
  });
}

export function deinit() {
  return inFlight === 0 && sockets.size === 0 ? 'done' : 'again';
}
