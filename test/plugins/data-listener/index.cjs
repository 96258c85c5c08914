// A plugin that listens for 'data' on a socket the host owns: on each line
// it forwards the payload over a TCP connection of its own to an upstream
// the host names (a stream 'data' listener registered by the plugin).
'use strict';
const net = require('node:net');
const { host } = require('../host/api.cjs');

let upstream;

exports.init = () => {
  host.events.on('socket', (socket, upstreamPort) => {
    socket.on('data', (chunk) => {
      upstream ??= net.connect(upstreamPort, '127.0.0.1');
      upstream.write(chunk);
    });
  });
  host.onRelease('data-listener', () => {
    const closed = new Promise((resolve) => upstream.once('close', resolve));
    upstream.end();
    return closed;
  });
};
exports.deinit = () => 'done';
