// A plugin that calls an HTTP API through Node's global agent (keep-alive by
// default): the pooled socket is the agent's, shared by the whole process.
'use strict';
const http = require('node:http');
const { host } = require('../host/api.cjs');

exports.init = () => {
  host.addHook('onReady', (port) =>
    new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/' }, (res) => {
          res.resume();
          res.on('end', resolve);
        })
        .on('error', reject);
    }),
  );
};
exports.deinit = () => 'done';
