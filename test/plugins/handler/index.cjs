// A plugin that serves a route on the host's http server: the handler runs
// for the host's connection; on /subscribe it starts a poller (an interval)
// and keeps a UDP socket for pushes.
'use strict';
const dgram = require('node:dgram');
const { host } = require('../host/api.cjs');

const subscriptions = [];

exports.init = () => {
  host.onRequest((req, res) => {
    if (req.url !== '/subscribe') return false;
    const socket = dgram.createSocket('udp4');
    socket.bind(0, '127.0.0.1', () => {
      const poll = setInterval(() => socket.send('tick', socket.address().port, '127.0.0.1'), 60_000);
      subscriptions.push({ socket, poll });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('subscribed');
    });
    return true;
  });
  host.onRelease('handler', async () => {
    for (const { socket, poll } of subscriptions.splice(0)) {
      clearInterval(poll);
      await new Promise((resolve) => socket.close(resolve));
    }
  });
};
exports.deinit = () => 'done';
