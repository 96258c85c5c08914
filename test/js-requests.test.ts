// JS requests and JS timers have no uv handle of their own: countsFor()
// counts the ones an owner started (requests: from async_hooks init to the
// callback; timers: until fired or cleared).
import { describe, expect, it } from 'vitest';
import * as crypto from 'node:crypto';
import * as dns from 'node:dns';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { countsFor, trackOwners, withOwner } from '../dist/index.js';
import { baselinePerTest, closeServer, destroySocket, until, untilNoHandles } from './helpers';

const NOTHING = { total: 0, active: 0, ref: 0, closing: 0, requests: 0, timers: 0 };

/** A promise with its resolve function, for callbacks. */
function signal<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('JS requests and timers per owner', () => {
  let tmp: string | undefined;
  const cleanups: Array<() => unknown> = [];
  const owners = new Set<string>();

  function owner(name: string): string {
    owners.add(name);
    return name;
  }

  function tempFile(name: string, content: string | Buffer = 'uv-drain'): string {
    tmp ??= fs.mkdtempSync(path.join(os.tmpdir(), 'uv-drain-requests-'));
    const file = path.join(tmp, name);
    fs.writeFileSync(file, content);
    return file;
  }

  let names: string[] = [];
  baselinePerTest({
    async tidy() {
      trackOwners(false);
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
      if (tmp !== undefined) fs.rmSync(tmp, { recursive: true, force: true });
      tmp = undefined;
      names = [...owners];
      owners.clear();
      for (const name of names) await untilNoHandles(name);
    },
    verify() {
      // No request or timer of the test's owners outlives it.
      for (const name of names) expect(countsFor(name)).toEqual(NOTHING);
    },
  });

  /** A connected loopback pair: `client` on this side, `peer` the accepted socket. */
  async function loopbackPair(): Promise<{ client: net.Socket; peer: net.Socket }> {
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => closeServer(server));
    const accepted = once(server, 'connection') as Promise<[net.Socket]>;
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    const [[peer]] = await Promise.all([accepted, once(client, 'connect')]);
    cleanups.push(() => destroySocket(client), () => destroySocket(peer));
    return { client, peer };
  }

  describe('requests, with tracking on', () => {
    it('fs.readFile counts its FSREQCALLBACK request until its callback has run', async () => {
      const o = owner('read-file');
      const file = tempFile('read.txt', 'hello');
      trackOwners(true);
      const done = signal<Buffer>();
      withOwner(o, () => fs.readFile(file, (err, data) => done.resolve(err ? Buffer.alloc(0) : data)));
      expect(countsFor(o).requests).toBe(1);
      expect((await done.promise).toString()).toBe('hello');
      expect(countsFor(o).requests).toBe(0);
    });

    it('fs.promises.writeFile counts its FSREQPROMISE requests until it settles', async () => {
      const o = owner('write-file');
      const file = tempFile('write.txt');
      trackOwners(true);
      const written = withOwner(o, () => fs.promises.writeFile(file, 'written'));
      expect(countsFor(o).requests).toBe(1);
      await written;
      expect(countsFor(o).requests).toBe(0);
      expect(fs.readFileSync(file, 'utf8')).toBe('written');
    });

    it('fs.fsync counts its FSREQCALLBACK request until its callback has run', async () => {
      const o = owner('fsync-callback');
      const fd = fs.openSync(tempFile('fsync.txt'), 'r+');
      cleanups.push(() => fs.closeSync(fd));
      trackOwners(true);
      const done = signal<NodeJS.ErrnoException | null>();
      withOwner(o, () => fs.fsync(fd, done.resolve));
      expect(countsFor(o).requests).toBe(1);
      expect(await done.promise).toBe(null);
      expect(countsFor(o).requests).toBe(0);
    });

    it('FileHandle.sync counts its FSREQPROMISE request until it settles', async () => {
      const o = owner('fsync-promise');
      const handle = await fs.promises.open(tempFile('sync.txt'), 'r+');
      cleanups.push(() => handle.close());
      trackOwners(true);
      const synced = withOwner(o, () => handle.sync());
      expect(countsFor(o).requests).toBe(1);
      await synced;
      expect(countsFor(o).requests).toBe(0);
    });

    it('dns.lookup of localhost counts its GETADDRINFOREQWRAP until its callback has run', async () => {
      const o = owner('lookup');
      trackOwners(true);
      const done = signal<string>();
      withOwner(o, () => dns.lookup('localhost', (err, address) => done.resolve(err ? '' : address)));
      expect(countsFor(o).requests).toBe(1);
      expect(await done.promise).not.toBe('');
      expect(countsFor(o).requests).toBe(0);
    });

    it('a write of 32 MiB to a paused reader counts its WRITEWRAP until the reader has taken it', async () => {
      const o = owner('slow-write');
      const { client, peer } = await loopbackPair();
      peer.pause();
      trackOwners(true);
      const done = signal<Error | null | undefined>();
      withOwner(o, () => client.write(Buffer.alloc(32 << 20, 0x61), done.resolve));
      expect(countsFor(o).requests).toBe(1);
      expect(client.writableLength).toBeGreaterThan(0);
      let received = 0;
      peer.on('data', (chunk: Buffer) => (received += chunk.length));
      peer.resume();
      expect(await done.promise).toBeFalsy();
      expect(countsFor(o).requests).toBe(0);
      await until(() => received === 32 << 20, 'the reader to receive all 32 MiB');
    });

    it('socket.end counts its SHUTDOWNWRAP until the shutdown is done', async () => {
      const o = owner('shutdown');
      const { client, peer } = await loopbackPair();
      trackOwners(true);
      const peerEnded = once(peer, 'end');
      peer.resume();
      withOwner(o, () => client.end());
      expect(countsFor(o).requests).toBe(1);
      await once(client, 'finish');
      expect(countsFor(o).requests).toBe(0);
      await peerEnded;
    });

    it('a connect to localhost counts its lookup, then its connect request, until it is connected', async () => {
      const o = owner('connect');
      const server = net.createServer();
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      cleanups.push(() => closeServer(server));
      const accepted = once(server, 'connection') as Promise<[net.Socket]>;
      trackOwners(true);
      const client = withOwner(o, () =>
        net.connect({ port: (server.address() as net.AddressInfo).port, host: 'localhost', family: 4 }),
      );
      cleanups.push(() => destroySocket(client));
      expect(countsFor(o).requests).toBe(1);
      const [[peer]] = await Promise.all([accepted, once(client, 'connect')]);
      cleanups.push(() => destroySocket(peer));
      expect(countsFor(o).requests).toBe(0);
    });

    it('zlib.gzip of 4 MiB counts its thread-pool writes until its callback has run', async () => {
      const o = owner('gzip');
      const input = crypto.randomBytes(4 << 20);
      trackOwners(true);
      const done = signal<Buffer>();
      withOwner(o, () => zlib.gzip(input, (err, out) => done.resolve(err ? Buffer.alloc(0) : out)));
      // One chunk at a time goes to the thread pool.
      expect(countsFor(o).requests).toBe(1);
      const compressed = await done.promise;
      expect(countsFor(o).requests).toBe(0);
      expect(zlib.gunzipSync(compressed).equals(input)).toBe(true);
    });

    it('crypto.pbkdf2 counts its PBKDF2REQUEST until its callback has run', async () => {
      const o = owner('pbkdf2');
      trackOwners(true);
      const done = signal<Buffer>();
      withOwner(o, () => crypto.pbkdf2('secret', 'salt', 10_000, 32, 'sha256', (err, key) => done.resolve(key)));
      expect(countsFor(o).requests).toBe(1);
      expect((await done.promise).length).toBe(32);
      expect(countsFor(o).requests).toBe(0);
    });

    it('crypto.scrypt counts its SCRYPTREQUEST until its callback has run', async () => {
      const o = owner('scrypt');
      trackOwners(true);
      const done = signal<Buffer>();
      withOwner(o, () => crypto.scrypt('secret', 'salt', 32, (err, key) => done.resolve(key)));
      expect(countsFor(o).requests).toBe(1);
      expect((await done.promise).length).toBe(32);
      expect(countsFor(o).requests).toBe(0);
    });

    it('crypto.randomBytes with a callback counts its RANDOMBYTESREQUEST until the callback has run', async () => {
      const o = owner('random-bytes');
      trackOwners(true);
      const done = signal<Buffer>();
      withOwner(o, () => crypto.randomBytes(64, (err, bytes) => done.resolve(bytes)));
      expect(countsFor(o).requests).toBe(1);
      expect((await done.promise).length).toBe(64);
      expect(countsFor(o).requests).toBe(0);
    });

    it('requests started in an async continuation of the owner are the owner’s, another owner’s are not', async () => {
      const a = owner('requests-a');
      const b = owner('requests-b');
      const file = tempFile('continuation.txt');
      trackOwners(true);
      const lookups = signal<void>();
      const startedA = withOwner(a, async () => {
        await Promise.resolve();
        return fs.promises.readFile(file);
      });
      const startedB = withOwner(b, async () => {
        await Promise.resolve();
        let pending = 2;
        const done = () => --pending === 0 && lookups.resolve();
        dns.lookup('localhost', done);
        dns.lookup('localhost', done);
      });
      await startedB;
      expect(countsFor(b).requests).toBe(2);
      // A's readFile is at its first step (open) by now.
      expect(countsFor(a).requests).toBe(1);
      await Promise.all([startedA, lookups.promise]);
      expect(countsFor(a).requests).toBe(0);
      expect(countsFor(b).requests).toBe(0);
    });

    it('a request still in flight when tracking is turned off leaves the count when its callback has run', async () => {
      const o = owner('tracking-off-midway');
      trackOwners(true);
      const done = signal<void>();
      withOwner(o, () => dns.lookup('localhost', () => done.resolve()));
      trackOwners(false);
      expect(countsFor(o).requests).toBe(1);
      await done.promise;
      expect(countsFor(o).requests).toBe(0);
    });

    it('synchronous crypto calls inside the owner leave no request counted', () => {
      const o = owner('crypto-sync');
      trackOwners(true);
      withOwner(o, () => {
        crypto.randomBytes(16);
        crypto.pbkdf2Sync('secret', 'salt', 1, 32, 'sha256');
        crypto.scryptSync('secret', 'salt', 32);
      });
      expect(countsFor(o).requests).toBe(0);
    });
  });

  describe('timers, with tracking on', () => {
    it('a setTimeout made in an async continuation counts one timer until it has fired', async () => {
      const o = owner('timeout');
      trackOwners(true);
      const fired = signal<number>();
      await withOwner(o, async () => {
        await Promise.resolve();
        setTimeout(() => fired.resolve(countsFor(o).timers), 1);
      });
      expect(countsFor(o).timers).toBe(1);
      // Inside its own callback the timer is still pending.
      expect(await fired.promise).toBe(1);
      expect(countsFor(o).timers).toBe(0);
    });

    it('clearTimeout takes the timer back out of the count', async () => {
      const o = owner('cleared-timeout');
      trackOwners(true);
      const timer = await withOwner(o, async () => {
        await Promise.resolve();
        return setTimeout(() => {}, 60_000);
      });
      expect(countsFor(o).timers).toBe(1);
      clearTimeout(timer);
      expect(countsFor(o).timers).toBe(0);
    });

    it('a setInterval stays counted while it keeps firing and leaves the count on clearInterval', async () => {
      const o = owner('interval');
      trackOwners(true);
      const seen: number[] = [];
      const thrice = signal<void>();
      const interval = await withOwner(o, async () => {
        await Promise.resolve();
        const handle = setInterval(() => {
          seen.push(countsFor(o).timers);
          if (seen.length === 3) thrice.resolve();
        }, 1);
        return handle;
      });
      cleanups.push(() => clearInterval(interval));
      expect(countsFor(o).timers).toBe(1);
      await thrice.promise;
      expect(seen).toEqual([1, 1, 1]);
      expect(countsFor(o).timers).toBe(1);
      clearInterval(interval);
      expect(countsFor(o).timers).toBe(0);
    });

    it('a setImmediate counts one timer until it has run', async () => {
      const o = owner('immediate');
      trackOwners(true);
      const ran = signal<void>();
      await withOwner(o, async () => {
        await Promise.resolve();
        setImmediate(ran.resolve);
      });
      expect(countsFor(o).timers).toBe(1);
      await ran.promise;
      expect(countsFor(o).timers).toBe(0);
    });

    it('clearImmediate takes the immediate back out of the count', async () => {
      const o = owner('cleared-immediate');
      trackOwners(true);
      const immediate = await withOwner(o, async () => {
        await Promise.resolve();
        return setImmediate(() => {});
      });
      expect(countsFor(o).timers).toBe(1);
      clearImmediate(immediate);
      expect(countsFor(o).timers).toBe(0);
    });

    it('three setImmediates count three timers and all leave the count once they have run', async () => {
      const o = owner('immediates');
      trackOwners(true);
      const ran = signal<void>();
      await withOwner(o, async () => {
        await Promise.resolve();
        setImmediate(() => {});
        setImmediate(() => {});
        setImmediate(ran.resolve);
      });
      expect(countsFor(o).timers).toBe(3);
      await ran.promise;
      expect(countsFor(o).timers).toBe(0);
    });

    it('a setTimeout, a setInterval and a setImmediate count one timer each', async () => {
      const o = owner('one-of-each');
      trackOwners(true);
      const made = await withOwner(o, async () => {
        await Promise.resolve();
        const timeout = setTimeout(() => {}, 60_000);
        const afterTimeout = countsFor(o).timers;
        const interval = setInterval(() => {}, 60_000);
        const afterInterval = countsFor(o).timers;
        const immediate = setImmediate(() => {});
        const afterImmediate = countsFor(o).timers;
        return { timeout, interval, immediate, counts: [afterTimeout, afterInterval, afterImmediate] };
      });
      expect(made.counts).toEqual([1, 2, 3]);
      clearTimeout(made.timeout);
      clearInterval(made.interval);
      clearImmediate(made.immediate);
      expect(countsFor(o).timers).toBe(0);
    });
  });

  describe('timers, without tracking', () => {
    it('timers made synchronously inside withOwner count', async () => {
      const o = owner('sync-timers');
      const ran = signal<void>();
      const timers = withOwner(o, () => ({
        timeout: setTimeout(() => {}, 60_000),
        interval: setInterval(() => {}, 60_000),
        immediate: setImmediate(ran.resolve),
      }));
      expect(countsFor(o).timers).toBe(3);
      await ran.promise;
      expect(countsFor(o).timers).toBe(2);
      clearTimeout(timers.timeout);
      expect(countsFor(o).timers).toBe(1);
      clearInterval(timers.interval);
      expect(countsFor(o).timers).toBe(0);
    });

    it('a timer made after an await inside withOwner does not count', async () => {
      const o = owner('untracked-timer');
      const timer = await withOwner(o, async () => {
        await Promise.resolve();
        return setTimeout(() => {}, 60_000);
      });
      expect(countsFor(o).timers).toBe(0);
      clearTimeout(timer);
    });
  });
});
