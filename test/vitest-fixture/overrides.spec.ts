// Per-test options: configureLeakCheck() inside a test changes that test's
// check only; the next test is checked with the file's options again.
import * as net from 'node:net';
import { afterAll, describe, it } from 'vitest';
import { configureLeakCheck } from 'uv-drain/vitest';

const servers: net.Server[] = [];
afterAll(() => {
  for (const server of servers) server.close();
});

describe('overrides', () => {
  it('ignores tcp for itself', () => {
    configureLeakCheck({ ignoreTypes: ['tcp'] });
    servers.push(net.createServer().listen(0));
  });

  it('is checked with the file’s options again', () => {
    servers.push(net.createServer().listen(0)); // leak:override
  });
});
