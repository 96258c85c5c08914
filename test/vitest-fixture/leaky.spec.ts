// Run by test/vitest-integration.test.ts (Vitest in a child process, forks
// and threads pools): three tests pass, two fail for their leaks, one fails
// for its own assertion only.
import * as net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { allowLeaks } from 'uv-drain/vitest';

const servers: net.Server[] = [];
const intervals: NodeJS.Timeout[] = [];
afterAll(() => {
  for (const server of servers) server.close();
  for (const interval of intervals) clearInterval(interval);
});

describe('a suite', () => {
  it('closes its server', async () => {
    const server = net.createServer().listen(0);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    expect(server.listening).toBe(false);
  });

  it('leaks a server', () => {
    servers.push(net.createServer().listen(0)); // leak:server
  });

  it('leaks an interval', () => {
    intervals.push(setInterval(function heartbeat() {}, 10_000)); // leak:interval
  });

  it('leaks a server but opted out', () => {
    allowLeaks('closed in afterAll');
    servers.push(net.createServer().listen(0));
  });

  it('fails its own assertion and leaks: only its own error is reported', () => {
    servers.push(net.createServer().listen(0));
    expect(1).toBe(2);
  });
});

it('passes at the top level', () => {
  expect(true).toBe(true);
});
