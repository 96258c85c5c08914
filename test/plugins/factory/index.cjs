// A plugin factory: the host loads makePlugin(name) objects under several
// names. The code is shared, so its location cannot say which instance runs:
// what each instance makes in its own hooks (its async context) is its own.
'use strict';
const net = require('node:net');

exports.makePlugin = () => {
  let server;
  return {
    init() {
      server = net.createServer().listen(0);
    },
    cleanup() {
      server.close();
    },
  };
};
