// Leaky hooks: what a block's hooks leave alive after its afterAll fails the
// block (a describe) — its tests pass.
import { once } from 'node:events';
import * as net from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

const leftovers: (net.Server | net.Socket)[] = [];
// This file's own afterAll (runs after the blocks' checks) cleans up for the next file.
afterAll(() => {
  for (const thing of leftovers) thing instanceof net.Server ? thing.close() : thing.destroy();
});

describe('beforeEach leaks a client', () => {
  let server: net.Server;
  beforeAll(async () => {
    server = net.createServer(() => {});
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  });
  beforeEach(async () => {
    const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1'); // leak:beforeEach
    leftovers.push(socket);
    await once(socket, 'connect');
  });
  afterAll(async () => {
    server.close();
  });

  it('passes', () => {
    expect(server.listening).toBe(true);
  });

  it('passes too', () => {
    expect(server.listening).toBe(true);
  });
});

describe('outer', () => {
  describe('nested beforeAll never closes its server', () => {
    beforeAll(() => {
      leftovers.push(net.createServer().listen(0, '127.0.0.1')); // leak:nested-beforeAll
    });

    it('passes', () => {
      expect(leftovers.length).toBeGreaterThan(0);
    });
  });

  it('passes outside the leaky block', () => {
    expect(true).toBe(true);
  });
});
