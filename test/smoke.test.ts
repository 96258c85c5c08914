import { describe, expect, it } from 'vitest';
import * as net from 'node:net';
import { setImmediate as tick } from 'node:timers/promises';
import { countsFor, stats, withOwner } from '../dist/index.js';

describe('smoke', () => {
  it('counts a server until its close callback has run', async () => {
    const before = stats().handles;
    const server = withOwner('smoke', () => net.createServer().listen(0));
    expect(countsFor('smoke').total).toBe(1);
    await new Promise<void>((r) => server.close(() => r()));
    // net.Server's 'close' comes on nextTick, before libuv's close callback.
    expect(countsFor('smoke')).toMatchObject({ total: 1, closing: 1 });
    while (countsFor('smoke').total > 0) await tick();
    expect(stats().handles).toBe(before);
  });
});
