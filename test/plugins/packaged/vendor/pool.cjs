// A tiny connection pool, as a plugin's dependency would be.
'use strict';
const net = require('node:net');

class Pool {
  constructor(port, size) {
    this.sockets = Array.from({ length: size }, () => net.connect(port, '127.0.0.1'));
  }

  close() {
    return Promise.all(
      this.sockets.map((s) => {
        const closed = new Promise((resolve) => s.once('close', resolve));
        s.destroy();
        return closed;
      }),
    );
  }
}

module.exports = { Pool };
