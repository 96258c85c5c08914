// An HTTP API with keep-alive clients: on cleanup it stops accepting,
// closes idle connections and lets busy ones finish their response.
'use strict';
const http = require('node:http');

const state = { working: false, served: 0, closed: false, port: 0 };
let server;

exports.state = state;
exports.init = () =>
  new Promise((resolve) => {
    server = http.createServer((req, res) => {
      state.served++;
      state.working = state.served > 10;
      setTimeout(() => res.end('ok'), 2);
    });
    server.keepAliveTimeout = 60_000;
    server.on('close', () => (state.closed = true));
    server.listen(0, '127.0.0.1', () => {
      state.port = server.address().port;
      resolve();
    });
  });
exports.cleanup = () => {
  server.close();
  server.closeIdleConnections();
  server.on('request', (req, res) => res.setHeader('connection', 'close'));
};
exports.deinit = () => (state.closed ? 'done' : 'again');
