// Held open by a server for a while, then lets go: for `uv-drain why --after`.
const net = require('node:net');
const server = net.createServer().listen(0, '127.0.0.1', () => setTimeout(() => server.close(), 1500));
