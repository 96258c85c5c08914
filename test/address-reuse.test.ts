// A closed handle's memory goes back to the allocator as soon as its close
// callback has run (Node's HandleWrap detaches and frees its wrap then), and
// the next handle of the same kind is often born at the very same address.
// uv-drain keeps the owner tag inside the handle; a handle born at a reused
// address must start untagged, or an owner would be charged (and a drain
// watcher kept waiting) for a handle it never made.
//
// Each test retries a bounded number of rounds until it has actually seen a
// new handle at the address of an old owned one: without reuse it would pass
// vacuously, so it fails instead.
import { describe, expect, it } from 'vitest';
import { once } from 'node:events';
import * as net from 'node:net';
import { MessageChannel } from 'node:worker_threads';
import { countsFor, snapshot, trackOwners, withOwner, type HandleInfo } from '../dist/index.js';
import { baselinePerTest, closeServer, uniqueName, until, untilNoHandles } from './helpers';

const MAX_ROUNDS = 20;
const BATCH = 8;

const newOwner = (what: string) => uniqueName(`address-reuse/${what}/`);

function ownedIds(owner: string): string[] {
  return snapshot()
    .filter((h) => h.owner === owner)
    .map((h) => h.id);
}

/** The handles appended to the loop's queue by `fn` (new handles go to the tail). */
function bornDuring(fn: () => void): HandleInfo[] {
  const before = new Set(snapshot().map((h) => h.id));
  fn();
  return snapshot().filter((h) => !before.has(h.id));
}

/** Closes both ports of each channel and waits for both close events. */
async function closeChannels(channels: MessageChannel[]): Promise<void> {
  const closed = channels.flatMap((c) => [once(c.port1, 'close'), once(c.port2, 'close')]);
  for (const c of channels) c.port1.close();
  await Promise.all(closed);
}

baselinePerTest({ before: () => trackOwners(false) });

describe('address reuse', () => {
  it("never gives the owner a MessagePort created in an owned port's close callback, even at a reused address", async () => {
    const owner = newOwner('message-port');
    const everOwned = new Set<string>();
    const reused: HandleInfo[] = [];
    for (let round = 0; round < MAX_ROUNDS && reused.length === 0; round++) {
      const channels = withOwner(owner, () => Array.from({ length: BATCH }, () => new MessageChannel()));
      for (const id of ownedIds(owner)) everOwned.add(id);
      expect(countsFor(owner).total).toBe(2 * BATCH);
      const made: MessageChannel[] = [];
      const born: HandleInfo[] = [];
      let closeEvents = 0;
      for (const { port1 } of channels) {
        port1.once('close', () => {
          // libuv's close callback for an owned port: earlier ones are freed already.
          born.push(...bornDuring(() => made.push(new MessageChannel())));
          closeEvents++;
        });
        port1.close();
      }
      await until(() => closeEvents === BATCH, 'the owned ports close events');
      await untilNoHandles(owner);
      // Read after the microtask that settles pending births.
      const now = new Map(snapshot().map((h) => [h.id, h]));
      expect(born).toHaveLength(2 * BATCH);
      expect(born.map((h) => [h.type, h.owner])).toEqual(Array(2 * BATCH).fill(['async', null]));
      expect(born.map((h) => now.get(h.id)?.owner)).toEqual(Array(2 * BATCH).fill(null));
      expect(countsFor(owner).total).toBe(0);
      reused.push(...born.filter((h) => everOwned.has(h.id)));
      await closeChannels(made);
    }
    expect(reused.length).toBeGreaterThan(0);
  });

  it("never gives the owner a tcp socket created in an owned socket's close callback, even at a reused address", async () => {
    const owner = newOwner('tcp');
    const server = net.createServer((s) => s.on('error', () => {}));
    const peers: net.Socket[] = [];
    server.on('connection', (s) => peers.push(s));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    const everOwned = new Set<string>();
    const reused: HandleInfo[] = [];
    const made: net.Socket[] = [];
    let ownedSockets = 0;
    for (let round = 0; round < MAX_ROUNDS && reused.length === 0; round++) {
      const clients = withOwner(owner, () => Array.from({ length: BATCH }, () => net.connect(port, '127.0.0.1')));
      for (const id of ownedIds(owner)) everOwned.add(id);
      expect(countsFor(owner).total).toBe(BATCH);
      ownedSockets += BATCH;
      await Promise.all(clients.map((c) => once(c, 'connect')));
      const born: HandleInfo[] = [];
      let closeEvents = 0;
      for (const client of clients) {
        // A socket's 'close' comes from libuv's close callback.
        client.once('close', () => {
          born.push(
            ...bornDuring(() => {
              const s = net.connect(port, '127.0.0.1');
              s.on('error', () => {});
              made.push(s);
            }),
          );
          closeEvents++;
        });
        client.destroy();
      }
      await until(() => closeEvents === BATCH, 'the owned sockets close events');
      await untilNoHandles(owner);
      const now = new Map(snapshot().map((h) => [h.id, h]));
      expect(born).toHaveLength(BATCH);
      expect(born.map((h) => [h.type, h.owner])).toEqual(Array(BATCH).fill(['tcp', null]));
      expect(born.map((h) => now.get(h.id)?.owner)).toEqual(Array(BATCH).fill(null));
      expect(countsFor(owner).total).toBe(0);
      reused.push(...born.filter((h) => everOwned.has(h.id)));
    }
    expect(reused.length).toBeGreaterThan(0);
    await Promise.all(made.map((s) => (s.connecting ? once(s, 'connect') : null)));
    await until(() => peers.length === made.length + ownedSockets, 'every connection to be accepted');
    const live = [...made, ...peers].filter((s) => !s.closed);
    const closed = live.map((s) => once(s, 'close'));
    for (const s of live) s.destroy();
    await Promise.all(closed);
    await closeServer(server);
  });

  it("gives a handle born inside withOwner at the reused address of another owner's closed handle to the new owner only", async () => {
    const first = newOwner('first');
    const second = newOwner('second');
    const firstIds = new Set<string>();
    const reused: HandleInfo[] = [];
    const open: MessageChannel[] = [];
    for (let round = 0; round < MAX_ROUNDS && reused.length === 0; round++) {
      const old = withOwner(first, () => Array.from({ length: BATCH }, () => new MessageChannel()));
      for (const id of ownedIds(first)) firstIds.add(id);
      old.forEach(({ port1 }) => port1.close());
      await untilNoHandles(first);
      const fresh = withOwner(second, () => Array.from({ length: BATCH }, () => new MessageChannel()));
      open.push(...fresh);
      expect(countsFor(first).total).toBe(0);
      expect(countsFor(second).total).toBe(2 * BATCH * (round + 1));
      reused.push(...snapshot().filter((h) => firstIds.has(h.id)));
      expect(reused.map((h) => h.owner)).toEqual(reused.map(() => second));
    }
    expect(reused.length).toBeGreaterThan(0);
    await closeChannels(open);
    await untilNoHandles(second);
  });
});
