// A library's process-wide singleton (an unref'd interval made on first use)
// is no test's leak; a second live timer from the same place in the library
// is not a singleton and is reported.
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain CommonJS package without types
import { coarseNow, Poller } from 'clock-lib';

const pollers: { close(): void }[] = [];
afterAll(() => {
  for (const poller of pollers) poller.close();
});

describe('singleton', () => {
  it('first use makes the library’s clock', () => {
    expect(typeof coarseNow()).toBe('number');
  });

  it('a later use shares it', () => {
    expect(coarseNow()).toBeGreaterThan(0);
  });

  it('closes its poller', () => {
    const poller = new Poller();
    poller.close();
  });

  it('leaves a poller open while another one is alive', () => {
    pollers.push(new Poller()); // leak:poller-1
    pollers.push(new Poller()); // leak:poller-2
  });
});
