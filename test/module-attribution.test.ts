// snapshot()'s `module`: the shared object holding the callback a handle will
// call next (its close_cb while closing). The fixture is a real .node whose
// raw handles' callbacks all live in it; Node's own handles call into the
// node binary.
import * as fs from 'node:fs';
import * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import { capabilities, snapshot, type HandleInfo } from '../dist/index.js';
import { FIXTURE_REALPATH, fixtureBaselinePerTest, KIND_NAMES, loadFixture } from './fixture.js';
import { closeServer, uniqueName, until } from './helpers.js';

const fx = loadFixture();
const NODE_BINARY = fs.realpathSync(process.execPath);

const freshOwner = (what: string) => uniqueName(`modules:${what}:`);

function entry(id: string): HandleInfo {
  const found = snapshot().find((h) => h.id === id);
  if (found === undefined) throw new Error(`handle ${id} not in snapshot()`);
  return found;
}

fixtureBaselinePerTest(fx);

describe('module attribution', () => {
  it('is supported by this libuv', () => {
    expect(capabilities.modules).toBe(true);
  });

  it('names the real path of the fixture .node, absolute', () => {
    expect(FIXTURE_REALPATH.startsWith('/')).toBe(true);
    expect(FIXTURE_REALPATH.endsWith('/test/fixtures/build/Release/uv_drain_fixture.node')).toBe(true);
  });

  describe.each(KIND_NAMES)('of a raw %s handle made by the fixture', (kind) => {
    it('names the fixture .node while the handle is active', () => {
      const id = fx.create(kind, freshOwner(kind));
      if (kind !== 'async') expect(fx.start(id)).toBe(0);
      expect(entry(id)).toMatchObject({ type: kind, active: true, closing: false, module: FIXTURE_REALPATH });
    });

    it('names the fixture .node (its close_cb) while the handle is closing', async () => {
      const id = fx.create(kind, freshOwner(kind));
      if (kind !== 'async') expect(fx.start(id)).toBe(0);
      expect(fx.close(id)).toBe(0);
      expect(entry(id)).toMatchObject({ type: kind, active: false, closing: true, module: FIXTURE_REALPATH });
      await until(() => !fx.isLive(id), 'the close callback');
    });
  });

  it('names no module for a fixture timer that has no callback yet', () => {
    const id = fx.create('timer');
    expect(entry(id).module).toBeNull();
  });

  it('names the fixture .node for a closing timer whose only callback is its close_cb', () => {
    const id = fx.create('timer');
    expect(fx.close(id)).toBe(0);
    expect(entry(id)).toMatchObject({ closing: true, module: FIXTURE_REALPATH });
  });

  it("names the node binary for every one of Node's own handles that has a callback", () => {
    const fixtureIds = new Set(fx.liveIds());
    const nodeHandles = snapshot().filter((h) => !fixtureIds.has(h.id) && h.module !== null);
    expect(nodeHandles.length).toBeGreaterThan(0);
    for (const h of nodeHandles) expect(h, `${h.type} ${h.id}`).toMatchObject({ module: NODE_BINARY });
  });

  it("names the node binary for a net.Server's listening handle and the fixture for a raw one side by side", async () => {
    const before = new Set(snapshot().map((h) => h.id));
    const server = net.createServer().listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    const raw = fx.create('tcp', freshOwner('side-by-side'));
    expect(fx.start(raw)).toBe(0);
    const tcps = snapshot().filter((h) => h.type === 'tcp' && !before.has(h.id));
    expect(tcps.map((h) => [h.id === raw ? 'raw' : 'node', h.module]).sort()).toEqual([
      ['node', NODE_BINARY],
      ['raw', FIXTURE_REALPATH],
    ]);
    await closeServer(server);
  });
});
