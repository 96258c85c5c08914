// strict: 'ref' — only what would keep the process alive fails a test; the
// rest of what a test leaves is printed as a warning.
import * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import { configureLeakCheck } from 'uv-drain/vitest';

configureLeakCheck({ strict: 'ref' });

describe('strict ref', () => {
  it('leaves an unref’d timer: a warning', () => {
    setTimeout(() => {}, 60_000).unref(); // warn:unref-timer
    expect(true).toBe(true);
  });

  it('leaves a listening server: a failure', () => {
    net.createServer().listen(0); // leak:strict-ref
  });
});
