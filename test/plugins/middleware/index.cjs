// A plugin in the host's middleware chain (express/connect style): for each
// request it arms a session timer, then calls next().
'use strict';
const { host } = require('../host/api.cjs');

const sessions = new Set();

exports.init = () => {
  host.use((req, res, next) => {
    const expiry = setTimeout(() => sessions.delete(expiry), 60_000);
    sessions.add(expiry);
    next();
  });
  host.onRelease('middleware', () => {
    for (const t of sessions) clearTimeout(t);
    sessions.clear();
  });
};
exports.deinit = () => 'done';
