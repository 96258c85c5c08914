// Sends heartbeats over UDP to itself; cleanup closes the socket.
'use strict';
const dgram = require('node:dgram');

const state = { working: false, beats: 0, closed: false };
let socket;
let timer;

exports.state = state;
exports.init = () =>
  new Promise((resolve) => {
    socket = dgram.createSocket('udp4');
    socket.on('message', () => {
      state.beats++;
      state.working = state.beats > 3;
    });
    socket.bind(0, '127.0.0.1', () => {
      timer = setInterval(() => socket.send('beat', socket.address().port, '127.0.0.1'), 2);
      resolve();
    });
  });
exports.cleanup = () => {
  clearInterval(timer);
  socket.close(() => (state.closed = true));
};
exports.deinit = () => (state.closed ? 'done' : 'again');
