// Concurrent tests: each is checked for what it made itself. A slow test
// that leaks a server fails; the quick clean tests that end while that
// server is alive pass.
import { once } from 'node:events';
import * as net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';

const leaked: net.Server[] = [];
afterAll(() => {
  for (const server of leaked) server.close();
});

async function listen(): Promise<net.Server> {
  const server = net.createServer((socket) => socket.end('hi'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

async function roundTrip(server: net.Server): Promise<string> {
  const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  let text = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  await once(socket, 'close');
  return text;
}

describe.concurrent('concurrent', () => {
  it('slow one leaks a server', async () => {
    leaked.push(net.createServer().listen(0, '127.0.0.1')); // leak:concurrent
    await new Promise((resolve) => setTimeout(resolve, 150));
  });

  it('quick one closes its server', async () => {
    const server = await listen();
    expect(await roundTrip(server)).toBe('hi');
    await new Promise((resolve) => server.close(resolve));
  });

  it('another quick one closes its server', async () => {
    await new Promise((resolve) => setTimeout(resolve, 20));
    const server = await listen();
    expect(await roundTrip(server)).toBe('hi');
    await new Promise((resolve) => server.close(resolve));
  });
});
