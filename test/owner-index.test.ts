// The owner index (native/owner_index.cc) against a walk of the whole loop.
// countsFor() reads each owner's set of live handles once the index is
// valid; here it must equal countsByWalk() at every point where JavaScript
// can run while handles close: synchronously after close(), in a
// setImmediate callback (a check callback that runs before the index's), in
// close callbacks and the ticks after them, after a close from a close
// callback (finished an iteration later), and in a worker's own loop. The
// index must stay valid through all of it: it is rebuilt only when it
// cannot vouch for itself (a nested uv_run), never by ordinary code. A
// uv_run nested in a setImmediate callback runs a closing phase the index's
// check callback never saw: the index must let go of its sets before it (no
// freed handle read: ASan runs this file) and rebuild after.
import { once } from 'node:events';
import * as net from 'node:net';
import { setImmediate as tick } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { countsFor, withOwner } from '../dist/index.js';
import { countsByWalk } from '../dist/accounting.js';
import { binding } from '../dist/native.js';
import { loadFixture } from './fixture.js';
import { baselinePerTest, uniqueName } from './helpers.js';

baselinePerTest();

const fx = loadFixture();
const DIST = fileURLToPath(new URL('../dist/', import.meta.url));

/** countsFor(owner), after checking that the index and a walk agree. */
function agreed(owner: string) {
  const counts = countsFor(owner);
  expect(countsByWalk(owner), `index vs walk for ${owner}`).toEqual(counts);
  return counts;
}

function listen(owner: string): Promise<net.Server> {
  const server = withOwner(owner, () => net.createServer((s) => s.destroy()));
  // No host: the handle is made in the call (a host name or address is
  // looked up first, and the handle made a tick later, out of withOwner).
  withOwner(owner, () => server.listen(0));
  return once(server, 'listening').then(() => server);
}

async function validIndex(): Promise<number> {
  await tick();
  await tick();
  const state = binding.ownerIndexState();
  expect(state.valid).toBe(true);
  return state.rebuilds;
}

describe('the owner index', () => {
  it('is valid after a loop iteration and agrees with a walk as servers, connections and ports come and go', async () => {
    const rebuilds = await validIndex();
    const owner = uniqueName('index-mix-');
    const server = await listen(owner);
    const port = (server.address() as net.AddressInfo).port;
    expect(agreed(owner).total).toBe(1);
    const sockets = await Promise.all(
      Array.from({ length: 6 }, () => {
        const s = withOwner(owner, () => net.connect(port, '127.0.0.1'));
        return once(s, 'connect').then(() => s);
      }),
    );
    const channels = withOwner(owner, () => Array.from({ length: 4 }, () => new MessageChannel()));
    for (const c of channels) c.port1.ref();
    agreed(owner);
    for (const s of sockets.slice(0, 3)) s.destroy();
    agreed(owner);
    channels[0].port1.close();
    agreed(owner);
    await tick();
    agreed(owner);
    for (const s of sockets.slice(3)) s.destroy();
    for (const c of channels) c.port1.close();
    server.close();
    expect(agreed(owner).closing).toBeGreaterThan(0);
    await once(server, 'close');
    agreed(owner);
    for (let i = 0; i < 4 && countsFor(owner).total > 0; i++) {
      await tick();
      agreed(owner);
    }
    expect(agreed(owner).total).toBe(0);
    expect(binding.ownerIndexState()).toEqual({ valid: true, rebuilds });
  });

  it('sees a handle closed in a setImmediate callback (a check callback before its own) until libuv finishes it', async () => {
    const rebuilds = await validIndex();
    const owner = uniqueName('index-immediate-');
    const server = await listen(owner);
    const closing = await new Promise<number>((resolve) => {
      setImmediate(() => {
        server.close();
        resolve(agreed(owner).closing);
      });
    });
    expect(closing).toBe(1);
    // Finished in that iteration's closing phase, right after the check phase.
    await tick();
    expect(agreed(owner).total).toBe(0);
    expect(binding.ownerIndexState()).toEqual({ valid: true, rebuilds });
  });

  it('keeps a handle closed from a close callback (finished an iteration later) counted until then', async () => {
    const rebuilds = await validIndex();
    const owner = uniqueName('index-chain-');
    const a = withOwner(owner, () => new MessageChannel());
    const b = withOwner(owner, () => new MessageChannel());
    const seen: [string, number, number][] = [];
    const note = (where: string) => {
      const c = agreed(owner);
      seen.push([where, c.total, c.closing]);
    };
    // A port's 'close' is emitted from its handle's close callback.
    a.port1.once('close', () => {
      note('in a close callback');
      b.port1.close();
      note('b closing');
      process.nextTick(() => note('tick after'));
    });
    a.port1.close();
    a.port2.close();
    b.port2.close();
    note('closing');
    for (let i = 0; i < 4 && countsFor(owner).total > 0; i++) {
      await tick();
      note(`iteration ${i + 1}`);
    }
    expect(seen[0]).toEqual(['closing', 4, 3]);
    const inClose = seen.find(([w]) => w === 'in a close callback')!;
    const bClosing = seen.find(([w]) => w === 'b closing')!;
    // b's port is still counted (closing) from its close() to its own close callback.
    expect(bClosing[1]).toBeGreaterThanOrEqual(1);
    expect(bClosing[2]).toBe(inClose[2] + 1);
    expect(seen.at(-1)!.slice(1)).toEqual([0, 0]);
    expect(binding.ownerIndexState()).toEqual({ valid: true, rebuilds });
  });

  it('keeps each of many owners to its own handles', async () => {
    const rebuilds = await validIndex();
    const owners = Array.from({ length: 40 }, () => uniqueName('index-many-'));
    const channels = owners.map((o) => withOwner(o, () => [new MessageChannel(), new MessageChannel()]));
    for (const o of owners) expect(agreed(o).total).toBe(4);
    channels.forEach((pair, i) => {
      if (i % 2 === 0) pair[0].port1.close();
    });
    await tick();
    await tick();
    owners.forEach((o, i) => expect(agreed(o).total).toBe(i % 2 === 0 ? 2 : 4));
    for (const pair of channels) for (const c of pair) c.port1.close();
    for (let i = 0; i < 4; i++) await tick();
    for (const o of owners) expect(agreed(o).total).toBe(0);
    expect(binding.ownerIndexState()).toEqual({ valid: true, rebuilds });
  });

  for (const mode of ['nowait', 'once'] as const) {
    it(`lets go of its sets for a uv_run (${mode}) nested in a setImmediate callback, counts by walk, then rebuilds`, async () => {
      const { rebuilds } = { rebuilds: await validIndex() };
      const owner = uniqueName(`index-nested-${mode}-`);
      const servers = await Promise.all([listen(owner), listen(owner)]);
      const inside = await new Promise<{ valid: boolean; total: number; after: number }>((resolve) => {
        setImmediate(() => {
          for (const server of servers) server.close();
          const total = agreed(owner).total;
          // Its closing phase finishes both servers.
          fx.runNested(mode);
          resolve({ valid: binding.ownerIndexState().valid, total, after: agreed(owner).total });
        });
      });
      expect(inside).toEqual({ valid: false, total: 2, after: 0 });
      for (let i = 0; i < 3; i++) await tick();
      expect(binding.ownerIndexState()).toEqual({ valid: true, rebuilds: rebuilds + 1 });
      expect(agreed(owner).total).toBe(0);
    });
  }

  it('stays exact through a uv_run nested in a timer callback (its own check callback runs there)', async () => {
    await validIndex();
    const owner = uniqueName('index-nested-timer-');
    const [a, b] = await Promise.all([listen(owner), listen(owner)]);
    const after = await new Promise<number>((resolve) => {
      setTimeout(() => {
        a.close();
        fx.runNested('nowait');
        b.close();
        resolve(agreed(owner).total);
      }, 1);
    });
    // a finished in the nested closing phase; b closing.
    expect(after).toBe(1);
    for (let i = 0; i < 3 && countsFor(owner).total > 0; i++) await tick();
    expect(agreed(owner).total).toBe(0);
    expect(binding.ownerIndexState().valid).toBe(true);
  });

  it('works in a worker thread on its own loop, and lets the worker end while owned handles are closing', async () => {
    const code = `
      const { parentPort } = require('node:worker_threads');
      const net = require('node:net');
      const { countsFor, withOwner } = require(${JSON.stringify(DIST + 'index.js')});
      const { countsByWalk } = require(${JSON.stringify(DIST + 'accounting.js')});
      const { binding } = require(${JSON.stringify(DIST + 'native.js')});
      const same = (o) => JSON.stringify(countsFor(o)) === JSON.stringify(countsByWalk(o));
      setImmediate(() => setImmediate(() => {
        const servers = withOwner('w', () => [net.createServer(), net.createServer()]);
        for (const s of servers) withOwner('w', () => s.listen(0));
        servers[0].once('listening', () => setTimeout(() => {
          const open = { valid: binding.ownerIndexState().valid, same: same('w'), total: countsFor('w').total };
          for (const s of servers) s.close();
          const closing = { same: same('w'), closing: countsFor('w').closing };
          parentPort.postMessage({ open, closing });
          // Ends with both servers still closing: their trampolines go back at teardown.
          process.exit(0);
        }, 20));
      }));
    `;
    const worker = new Worker(code, { eval: true });
    const exited = once(worker, 'exit');
    const [message] = (await once(worker, 'message')) as [{ open: unknown; closing: unknown }];
    expect(message).toEqual({ open: { valid: true, same: true, total: 2 }, closing: { same: true, closing: 2 } });
    expect((await exited)[0]).toBe(0);
  });
});
