// Half of two plugins that call each other: exposes a function that opens a
// server; whoever calls it, the server is this plugin's (its code made it).
'use strict';
const net = require('node:net');
const { host } = require('../host/api.cjs');

const servers = [];

exports.init = () => {
  host.expose('callee', {
    openServer() {
      const server = net.createServer().listen(0);
      servers.push(server);
      return server;
    },
  });
  host.onRelease('callee', () =>
    Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve)))),
  );
};
exports.deinit = () => 'done';
