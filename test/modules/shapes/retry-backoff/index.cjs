// Keeps trying to reach a service that is down, with setTimeout backoff;
// cleanup stops retrying (the timer already armed is cancelled).
'use strict';
const net = require('node:net');

const state = { working: false, attempts: 0, port: 0 };
let timer;
let stopped = false;
let socket;

function attempt(delay) {
  socket = net.connect(state.port, '127.0.0.1');
  socket.on('error', () => {
    state.attempts++;
    state.working = state.attempts > 2;
    socket = undefined;
    if (!stopped) timer = setTimeout(() => attempt(Math.min(delay * 2, 20)), delay);
  });
}

exports.state = state;
exports.init = () => attempt(1);
exports.cleanup = () => {
  stopped = true;
  clearTimeout(timer);
};
exports.deinit = () => (socket === undefined ? 'done' : 'again');
