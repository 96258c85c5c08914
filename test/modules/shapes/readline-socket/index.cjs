// Reads a line protocol from an upstream with readline over a TCP socket;
// on cleanup it says goodbye and waits for the peer to close.
'use strict';
const net = require('node:net');
const readline = require('node:readline');

const state = { working: false, lines: 0, closed: false, port: 0 };
let socket;

exports.state = state;
exports.init = () => {
  socket = net.connect(state.port, '127.0.0.1');
  const rl = readline.createInterface({ input: socket });
  rl.on('line', () => {
    state.lines++;
    state.working = state.lines > 5;
  });
  socket.on('close', () => (state.closed = true));
};
exports.cleanup = () => socket.end('BYE\n');
exports.deinit = () => (state.closed ? 'done' : 'again');
