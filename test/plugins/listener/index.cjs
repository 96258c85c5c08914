// A plugin whose work starts from a host event: its listener (called by the
// host's emit, in the host's context) opens a TCP server and a heartbeat.
'use strict';
const net = require('node:net');
const { host } = require('../host/api.cjs');

let server;
let heartbeat;

exports.init = () => {
  host.events.on('start', () => {
    server = net.createServer((socket) => socket.end()).listen(0, '127.0.0.1');
    heartbeat = setInterval(() => {}, 60_000);
  });
  host.onRelease('listener', () => {
    clearInterval(heartbeat);
    return new Promise((resolve) => server.close(resolve));
  });
};
exports.deinit = () => 'done';
