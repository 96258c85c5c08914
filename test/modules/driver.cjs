// A commit client outside any module: `clients` connections to a commit
// module's port (commit-core.cjs), each asking for one commit every
// `intervalMs` ms until the module ends the connection; an ended connection
// is let go at once. Records what was sent, acknowledged and refused.
'use strict';
const net = require('node:net');

function startDriver(port, { clients = 3, intervalMs = 2, prefix = 'c' } = {}) {
  const sent = new Set();
  const acked = new Set();
  const nacked = new Set();
  const sockets = [];
  const waiters = [];
  let seq = 0;
  let closed = 0;
  let resolveClosed;
  const allClosed = new Promise((resolve) => (resolveClosed = resolve));

  const checkWaiters = () => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (acked.size >= waiters[i].n) waiters.splice(i, 1)[0].resolve();
    }
  };

  for (let c = 0; c < clients; c++) {
    const socket = net.connect(port, '127.0.0.1');
    sockets.push(socket);
    socket.setEncoding('utf8');
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const [kind, id] = buffered.slice(0, nl).split(' ');
        buffered = buffered.slice(nl + 1);
        if (kind === 'ack') acked.add(id);
        else if (kind === 'nack') nacked.add(id);
      }
      checkWaiters();
    });
    socket.on('end', () => socket.destroy());
    socket.on('error', () => {});
    socket.on('close', () => {
      if (++closed === clients) {
        clearInterval(timer);
        resolveClosed();
      }
    });
  }

  const timer = setInterval(() => {
    for (let c = 0; c < sockets.length; c++) {
      const socket = sockets[c];
      if (!socket.writable || socket.connecting) continue;
      const id = `${prefix}${c}-${++seq}`;
      sent.add(id);
      socket.write(`commit ${id}\n`);
    }
  }, intervalMs);

  return {
    sent,
    acked,
    nacked,
    /** Resolves once at least `n` commits were acknowledged. */
    whenAcked(n) {
      return new Promise((resolve) => {
        waiters.push({ n, resolve });
        checkWaiters();
      });
    },
    /** Resolves once every connection is closed (the driver has stopped). */
    closed: allClosed,
    /** Stops at once (for a test that failed half-way). */
    stop() {
      clearInterval(timer);
      for (const socket of sockets) socket.destroy();
      return allClosed;
    },
  };
}

module.exports = { startDriver };
