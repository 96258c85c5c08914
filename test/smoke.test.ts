import { describe, expect, it } from 'vitest';
import * as net from 'node:net';
import { setImmediate as tick } from 'node:timers/promises';
import * as os from 'node:os';
import { countsFor, snapshot, withOwner } from '../dist/index.js';
import { loopTotals, movedBy } from './helpers.js';
import { binding } from '../dist/native.js';

describe('smoke', () => {
  it('counts a server until its close callback has run', async () => {
    const before = loopTotals();
    const server = withOwner('smoke', () => net.createServer().listen(0));
    const ours = snapshot().filter((h) => h.owner === 'smoke').map((h) => h.id);
    expect(countsFor('smoke').total).toBe(1);
    await new Promise<void>((r) => server.close(() => r()));
    // net.Server's 'close' comes on nextTick, before libuv's close callback.
    expect(countsFor('smoke')).toMatchObject({ total: 1, closing: 1 });
    while (countsFor('smoke').total > 0) await tick();
    expect(movedBy(before, loopTotals(), ours).handles).toBe(0);
  });
});

describe("the binding's libuv error codes", () => {
  it('are the negated errno values of this platform, for every name both know', () => {
    const shared = Object.keys(binding.uvErrors).filter((name) => name in os.constants.errno);
    expect(shared).toEqual(expect.arrayContaining(['EAGAIN', 'EBUSY', 'EINVAL', 'ENOTSUP', 'EALREADY']));
    for (const name of shared) {
      expect([name, binding.uvErrors[name]]).toEqual([name, -os.constants.errno[name as keyof typeof os.constants.errno]]);
    }
  });
});
