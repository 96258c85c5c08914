// Argument checks of the exported functions, and withOwner's contract around
// fn: it returns fn's value, rethrows fn's error, and leaves no owner current.
import { describe, expect, it } from 'vitest';
import { spawn, type StdioOptions } from 'node:child_process';
import { once } from 'node:events';
import * as net from 'node:net';
import { countsFor, snapshot, trackOwners, withOwner } from '../dist/index.js';
import { baselinePerTest, closeServer, thrown, uniqueName, until, untilNoHandles } from './helpers';

const NOT_STRINGS: [string, unknown][] = [
  ['a number', 42],
  ['undefined', undefined],
  ['null', null],
  ['an object', {}],
  ['an array', ['a']],
  ['a symbol', Symbol('a')],
  ['a String object', new String('a')],
  ['a function', () => 'a'],
];

const NOT_FUNCTIONS: [string, unknown][] = [
  ['undefined', undefined],
  ['null', null],
  ['a number', 1],
  ['a string', 'fn'],
  ['an object', {}],
];

const NOT_BOOLEANS: [string, unknown][] = [
  ['undefined', undefined],
  ['null', null],
  ['a number', 1],
  ['a string', 'true'],
  ['a Boolean object', new Boolean(true)],
];

const TOO_LONG = 'x'.repeat(257);

const newOwner = (what: string) => uniqueName(`validation/${what}/`);

const baseline = baselinePerTest({ before: () => trackOwners(false) });

describe('countsFor', () => {
  it.each(NOT_STRINGS)('throws a TypeError naming "owner" for %s', (_what, value) => {
    const err = thrown(() => countsFor(value as string));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toMatch(/"owner"/);
  });

  it('throws a RangeError naming "owner" for the empty string', () => {
    const err = thrown(() => countsFor(''));
    expect(err).toBeInstanceOf(RangeError);
    expect(err.message).toMatch(/"owner"/);
  });

  it('throws a RangeError naming "owner" for a 257-character name', () => {
    const err = thrown(() => countsFor(TOO_LONG));
    expect(err).toBeInstanceOf(RangeError);
    expect(err.message).toMatch(/"owner"/);
  });

  it('accepts a 256-character name', () => {
    expect(countsFor('y'.repeat(256))).toEqual({ total: 0, active: 0, ref: 0, closing: 0, requests: 0, timers: 0 });
  });

  it('accepts a 256-character name of 3-byte UTF-8 characters and gives its handle back under that name', async () => {
    const owner = '€'.repeat(256);
    const server = withOwner(owner, () => net.createServer().listen(0));
    expect(countsFor(owner).total).toBe(1);
    expect(snapshot().filter((h) => h.owner === owner)).toHaveLength(1);
    await closeServer(server);
    await untilNoHandles(owner);
  });

  // Names are UTF-16; the addon keys owners by their UTF-8 conversion, which
  // turns every lone surrogate into U+FFFD. Either reject such names (a
  // RangeError naming "owner") or keep them apart: never report one owner's
  // handles under another name.
  it("never reports an owner's handles under another name that differs only in a lone surrogate", async () => {
    const mine = 'validation/lone-surrogate/\uDC00';
    const other = 'validation/lone-surrogate/\uD800';
    const totalOf = (name: string): number | 'rejected' => {
      try {
        return countsFor(name).total;
      } catch (err) {
        if (err instanceof RangeError && /"owner"/.test(err.message)) return 'rejected';
        throw err;
      }
    };
    let server: net.Server | null = null;
    try {
      server = withOwner(mine, () => net.createServer().listen(0));
    } catch (err) {
      expect(err).toBeInstanceOf(RangeError);
    }
    try {
      if (server !== null) expect(totalOf(mine)).toBe(1);
      expect([0, 'rejected']).toContain(totalOf(other));
      expect([0, 'rejected']).toContain(totalOf('validation/lone-surrogate/\uFFFD'));
    } finally {
      if (server !== null) await closeServer(server);
      await until(() => snapshot().every((h) => h.owner === null || !h.owner.startsWith('validation/lone')), 'cleanup');
    }
  });
});

describe('withOwner', () => {
  it.each(NOT_STRINGS)('throws a TypeError naming "owner" for %s, without calling fn', (_what, value) => {
    let called = false;
    const err = thrown(() => withOwner(value as string, () => (called = true)));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toMatch(/"owner"/);
    expect(called).toBe(false);
  });

  it('throws a RangeError naming "owner" for the empty string, without calling fn', () => {
    let called = false;
    const err = thrown(() => withOwner('', () => (called = true)));
    expect(err).toBeInstanceOf(RangeError);
    expect(err.message).toMatch(/"owner"/);
    expect(called).toBe(false);
  });

  it('throws a RangeError naming "owner" for a 257-character name, without calling fn', () => {
    let called = false;
    const err = thrown(() => withOwner(TOO_LONG, () => (called = true)));
    expect(err).toBeInstanceOf(RangeError);
    expect(err.message).toMatch(/"owner"/);
    expect(called).toBe(false);
  });

  it.each(NOT_FUNCTIONS)('throws a TypeError naming "fn" for %s', (_what, value) => {
    const err = thrown(() => withOwner(newOwner('bad-fn'), value as () => void));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toMatch(/"fn"/);
  });

  it('names "owner" when both the owner and fn are bad', () => {
    const err = thrown(() => withOwner(42 as unknown as string, 42 as unknown as () => void));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toMatch(/"owner"/);
  });

  it("returns fn's value", () => {
    const value = { answer: 42 };
    expect(withOwner(newOwner('value'), () => value)).toBe(value);
  });

  it("rethrows fn's error, after which a new handle is not the owner's", async () => {
    const owner = newOwner('throws');
    const boom = new Error('boom');
    const err = thrown(() =>
      withOwner(owner, () => {
        throw boom;
      }),
    );
    expect(err).toBe(boom);
    const server = net.createServer().listen(0);
    expect(countsFor(owner).total).toBe(0);
    expect(snapshot().filter((h) => !baseline().has(h.id) && h.type === 'tcp').map((h) => h.owner)).toEqual([null]);
    await closeServer(server);
  });

  it("rethrows fn's error after fn made an owned handle, which stays the owner's", async () => {
    const owner = newOwner('throws-after-handle');
    let server: net.Server | null = null;
    const boom = new Error('boom');
    const err = thrown(() =>
      withOwner(owner, () => {
        server = net.createServer().listen(0);
        throw boom;
      }),
    );
    expect(err).toBe(boom);
    expect(countsFor(owner).total).toBe(1);
    await closeServer(server!);
    await untilNoHandles(owner);
  });

  it('makes the outer owner current again when a nested withOwner throws', async () => {
    const outer = newOwner('outer');
    const inner = newOwner('inner');
    const boom = new Error('boom');
    const failInner = (): never => {
      throw boom;
    };
    const server = withOwner(outer, () => {
      expect(thrown(() => withOwner(inner, failInner))).toBe(boom);
      return net.createServer().listen(0);
    });
    expect(countsFor(outer).total).toBe(1);
    expect(countsFor(inner).total).toBe(0);
    await closeServer(server);
    await untilNoHandles(outer);
  });

  // A failing spawn: Node makes the process wrap (async_hooks announces a
  // process handle for the owner), then throws on the bad stdio before
  // uv_spawn. The announcement must not outlive fn and fall on the next
  // process handle anybody makes in the same tick.
  it("rethrows a failed spawn's error, after which a process spawned in the same tick is not the owner's", async () => {
    const owner = newOwner('failed-spawn');
    const bad = ['pipe', 'not-a-stdio-kind'] as unknown as StdioOptions;
    let inner: unknown = null;
    const err = thrown(() =>
      withOwner(owner, () => {
        try {
          return spawn(process.execPath, ['-e', ''], { stdio: bad });
        } catch (e) {
          inner = e;
          throw e;
        }
      }),
    );
    expect(err).toBe(inner);
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    const exited = once(child, 'exit');
    try {
      const processes = snapshot().filter((h) => !baseline().has(h.id) && h.type === 'process');
      expect(processes.map((h) => h.owner)).toEqual([null]);
    } finally {
      await exited;
      await until(() => snapshot().every((h) => baseline().has(h.id) || !h.closing), 'the child handles to close');
    }
    expect(countsFor(owner).total).toBe(0);
  });
});

describe('trackOwners', () => {
  it.each(NOT_BOOLEANS)('throws a TypeError naming "enabled" for %s', (_what, value) => {
    const err = thrown(() => trackOwners(value as boolean));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toMatch(/"enabled"/);
  });

  it('accepts true and false', () => {
    expect(trackOwners(true)).toBeUndefined();
    expect(trackOwners(false)).toBeUndefined();
  });
});
