// Clean tests with test.extend fixtures (torn down after afterEach) and
// onTestFinished cleanup: a fixture's server is closed by the fixture.
import { once } from 'node:events';
import * as net from 'node:net';
import { describe, expect, onTestFinished, test as base } from 'vitest';

const test = base.extend<{ server: net.Server }>({
  server: async ({}, use) => {
    const server = net.createServer((socket) => socket.end('fixture'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    await use(server);
    await new Promise((resolve) => server.close(resolve));
  },
});

describe('fixtures', () => {
  test('uses a server fixture', async ({ server }) => {
    expect(server.listening).toBe(true);
  });

  test('connects to the fixture’s server', async ({ server }) => {
    const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    let text = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    await once(socket, 'close');
    expect(text).toBe('fixture');
  });

  test('closes its server in onTestFinished', async () => {
    const server = net.createServer().listen(0, '127.0.0.1');
    onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
    await once(server, 'listening');
  });
});
