// The clients and peers the shapes need, outside every shape's directory
// (so this code is the host's, not a shape's). Each driver: before(state)
// runs before the shape is loaded, after(state) once it is, and stop()
// once the test is done (it must leave nothing on the loop).
'use strict';
const http = require('node:http');
const net = require('node:net');
const { once } = require('node:events');

function closeServer(server) {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A port nothing listens on. */
async function deadPort() {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  await closeServer(server);
  return port;
}

const drivers = {
  'readline-socket'() {
    let server;
    let ticker;
    return {
      async before(state) {
        server = net.createServer((socket) => {
          ticker = setInterval(() => socket.write('line\n'), 1);
          socket.on('data', (d) => {
            if (String(d).includes('BYE')) {
              clearInterval(ticker);
              socket.end();
            }
          });
          socket.on('close', () => clearInterval(ticker));
        });
        server.listen(0, '127.0.0.1');
        await once(server, 'listening');
        state.port = server.address().port;
      },
      stop: () => closeServer(server),
    };
  },

  'http-keepalive'() {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 3 });
    let running = true;
    const loops = [];
    return {
      after(state) {
        const loop = async () => {
          while (running) {
            const ok = await new Promise((resolve) => {
              http
                .get({ host: '127.0.0.1', port: state.port, path: '/', agent }, (res) => {
                  res.resume();
                  res.on('end', () => resolve(true));
                })
                .on('error', () => resolve(false));
            });
            if (!ok) return;
          }
        };
        for (let i = 0; i < 3; i++) loops.push(loop());
      },
      async stop() {
        running = false;
        await Promise.all(loops);
        agent.destroy();
      },
    };
  },

  'events-once'() {
    const sockets = [];
    let ticker;
    return {
      after(state) {
        for (let i = 0; i < 2; i++) {
          const s = net.connect(state.port, '127.0.0.1');
          s.on('data', () => {});
          s.on('end', () => s.end());
          s.on('error', () => {});
          sockets.push(s);
        }
        ticker = setInterval(() => sockets.forEach((s) => s.writable && s.write('ping')), 1);
      },
      async stop() {
        clearInterval(ticker);
        await Promise.all(sockets.map((s) => (s.destroyed ? null : once(s, 'close'))));
      },
    };
  },

  'retry-backoff'() {
    return {
      async before(state) {
        state.port = await deadPort();
      },
    };
  },

  'worker-thread'() {
    return {
      /** The module's last callback is the worker's 'exit' event, not an accounting change: mark it. */
      release(released, state) {
        state.worker.once('exit', () => released?.());
      },
    };
  },

  'waits-on-other'() {
    let server;
    let peer;
    let accepted;
    return {
      async before(state, uv) {
        server = net.createServer((s) => (accepted = s));
        server.listen(0, '127.0.0.1');
        await once(server, 'listening');
        peer = uv.withOwner('other-owner', () => net.connect(server.address().port, '127.0.0.1'));
        await once(peer, 'connect');
        state.peer = peer;
        state.working = true;
      },
      /** Called once the unload is under way: the other owner lets go a little later. */
      release(released) {
        setTimeout(() => {
          peer.destroy();
          accepted?.destroy();
          released?.();
        }, 20);
      },
      async stop() {
        if (!peer.destroyed) peer.destroy();
        accepted?.destroy();
        await closeServer(server);
      },
    };
  },
};

module.exports = { drivers };
