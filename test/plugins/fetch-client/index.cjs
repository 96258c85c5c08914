// A plugin that calls an HTTP API with fetch: the pooled socket is the
// global dispatcher's, shared by the whole process.
'use strict';
const { host } = require('../host/api.cjs');

exports.init = () => {
  host.addHook('onReady', async (port) => {
    const res = await fetch(`http://127.0.0.1:${port}/`);
    await res.text();
  });
};
exports.deinit = () => 'done';
