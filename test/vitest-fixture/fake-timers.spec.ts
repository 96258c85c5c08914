// Tests that fake the clock (vi.useFakeTimers fakes setTimeout, setImmediate
// and Date) and leave it faked: the leak check waits on real time, so it
// neither hangs nor misses a leak.
import * as net from 'node:net';
import { describe, expect, it, vi } from 'vitest';

describe('fake timers', () => {
  it('left installed by a clean test', async () => {
    vi.useFakeTimers();
    const server = net.createServer().listen(0);
    await new Promise((resolve) => server.close(resolve));
    expect(Date.now()).toBe(Date.now());
  });

  it('left installed by a test that leaks a server', () => {
    vi.useFakeTimers();
    net.createServer().listen(0); // leak:fake-timers
  });

  it('back to real timers', async () => {
    vi.useRealTimers();
    await new Promise((resolve) => setTimeout(resolve, 5));
  });
});
