// A TCP echo service whose deinit awaits the server's 'close' event.
'use strict';
const net = require('node:net');
const { once } = require('node:events');

const state = { working: false, echoed: 0, port: 0 };
let server;
const sockets = new Set();

exports.state = state;
exports.init = () =>
  new Promise((resolve) => {
    server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('data', (d) => {
        state.echoed++;
        state.working = state.echoed > 5;
        if (socket.writable) socket.write(d);
      });
    });
    server.listen(0, '127.0.0.1', () => {
      state.port = server.address().port;
      resolve();
    });
  });
exports.cleanup = () => {
  server.close();
  for (const s of sockets) s.end();
};
exports.deinit = async () => {
  if (server.listening) await once(server, 'close');
  return 'done';
};
