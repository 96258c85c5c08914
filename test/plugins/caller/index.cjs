// The other half: on the host's 'start' event it asks the callee plugin for
// a server, then arms a timer of its own. The server is the callee's, the
// timer the caller's.
'use strict';
const { host } = require('../host/api.cjs');

let timer;

exports.init = () => {
  host.events.on('start', () => {
    host.plugins.get('callee').openServer();
    timer = setTimeout(() => {}, 60_000);
  });
  host.onRelease('caller', () => clearTimeout(timer));
};
exports.deinit = () => 'done';
