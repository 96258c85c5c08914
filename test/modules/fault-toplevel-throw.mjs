// A module file whose top-level code makes a TCP server and then throws
// (test/faults.test.ts). The server is left on globalThis so that the test
// can close it.
import * as net from 'node:net';

globalThis.__uvDrainFaultServer = net.createServer().listen(0);
throw new Error('fault: top-level code threw');
