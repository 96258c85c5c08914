// Every well-behaved module unloads, whatever shape its wrap-up takes
// (test/modules/shapes/): each shape is loaded by path, unloaded while it is
// working, and must be removed at most 2 loop iterations after its last
// callback (the last change of its accounting: a close callback, a request
// callback), with nothing it acknowledged lost and the loop back at its
// baseline. The same shapes run in child processes whose host has nothing
// else alive: each child must end by itself, with code 0, once its unload
// (or the quit of all of them) resolved.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as uv from '../dist/index.js';
import { binding } from '../dist/native.js';
import { loadFixture } from './fixture.js';
import { baselinePerTest, until } from './helpers.js';

const require = createRequire(import.meta.url);
const SHAPES_DIR = fileURLToPath(new URL('./modules/shapes/', import.meta.url));
const CHILD = fileURLToPath(new URL('./scripts/shape-child.mjs', import.meta.url));
const { drivers } = require('./modules/shapes/drivers.cjs') as { drivers: Record<string, () => Driver> };

interface Driver {
  before?(state: Record<string, unknown>, api: typeof uv): Promise<void> | void;
  after?(state: Record<string, unknown>): Promise<void> | void;
  /** Lets go of what the shape waits on, a little later (or marks the shape's last callback); calls `released` then. */
  release?(released: (() => void) | undefined, state: Record<string, unknown>): void;
  stop?(): Promise<void> | void;
}

const SHAPES = fs
  .readdirSync(SHAPES_DIR, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

let tmp: string;
/** Iterations from each shape's last callback to its removal (printed for the record). */
const lags: Record<string, number> = {};
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uvd-shapes-'));
  process.env.UVD_SHAPES_DIR = tmp;
});
afterAll(() => {
  console.log(`[shapes] iterations from last callback to removal: ${JSON.stringify(lags)}`);
  fs.rmSync(tmp, { recursive: true, force: true });
});
// The host keeps its loop busy with something unrelated, as hosts do.
let hostWork: NodeJS.Timeout;
baselinePerTest({
  setup() {
    hostWork = setInterval(() => {}, 5);
  },
  tidy: () => clearInterval(hostWork),
});

function lines(file: string): string[] {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

/** What each shape must have kept, checked after its removal. */
const KEPT: Record<string, (state: Record<string, unknown>) => void> = {
  'promise-chain': (s) => expect(lines(s.file as string)).toEqual(expect.arrayContaining(s.acked as string[])),
  'filehandle-commit': (s) => expect(lines(s.file as string)).toEqual(expect.arrayContaining(s.acked as string[])),
  'async-wrapup': () => expect(lines(path.join(tmp, 'async-wrapup.txt'))).toEqual(['summary']),
  pipeline: (s) => expect(lines(path.join(tmp, 'pipeline.txt'))).toEqual(s.records),
  'async-deinit-flush': (s) => expect(lines(path.join(tmp, 'async-deinit-flush.txt')).length).toBe(s.flushedCount),
};

describe('each shape, unloaded while working, in this process', () => {
  it('the corpus has at least 15 shapes', () => {
    expect(SHAPES.length).toBeGreaterThanOrEqual(15);
  });

  for (const shape of SHAPES) {
    it(`${shape}: removed at most 2 iterations after its last callback, nothing lost`, async () => {
      const file = path.join(SHAPES_DIR, shape, 'index.cjs');
      const { state } = require(file) as { state: Record<string, unknown> };
      const driver = drivers[shape]?.() ?? {};
      const coordinator = new uv.UnloadCoordinator({ timeoutMs: 10_000 });
      await driver.before?.(state, uv);
      await coordinator.load(shape, file);
      await driver.after?.(state);
      await until(() => state.working === true, `${shape} to be working`);
      const unloading = coordinator.unload(shape);
      // A shape waiting on another owner's resource: its last cue is that
      // release; a worker's: its 'exit' event (no accounting change).
      let releasedAt = -1;
      driver.release?.(() => (releasedAt = binding.watchIteration()), state);
      const report = await unloading;
      expect(report.removed).toBe(true);
      const { removed } = report.iterations!;
      const lastChange = Math.max(report.iterations!.lastChange, releasedAt);
      lags[shape] = removed - lastChange;
      expect(removed - lastChange, `removed in iteration ${removed}, last change in ${lastChange}`).toBeLessThanOrEqual(2);
      KEPT[shape]?.(state);
      await driver.stop?.();
      await coordinator.quit();
    });
  }
});

describe('the C commit module (examples/c-module/commit_module.c), unloaded while committing', () => {
  it('removed at most 2 iterations after its last callback, every acknowledged commit on disk', async () => {
    const so = fs.realpathSync(fileURLToPath(new URL('../build/Release/commit_module.so', import.meta.url)));
    const fx = loadFixture();
    const file = path.join(tmp, 'c-commits.log');
    process.env.UV_DRAIN_COMMIT_FILE = file;
    const coordinator = new uv.UnloadCoordinator({ timeoutMs: 10_000 });
    try {
      await coordinator.load('commit_module', { native: so });
      await until(() => fx.moduleQuery(so, 'commit_module_acked', 'u64') >= 3, 'commits to be acknowledged');
      const report = await coordinator.unload('commit_module');
      expect(report.removed).toBe(true);
      const { lastChange, removed } = report.iterations!;
      lags.commit_module = removed - lastChange;
      expect(removed - lastChange).toBeLessThanOrEqual(2);
      const seqs = lines(file).map(Number);
      expect(seqs.length).toBeGreaterThanOrEqual(3);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    } finally {
      delete process.env.UV_DRAIN_COMMIT_FILE;
      await coordinator.quit();
    }
  });
});

describe('each shape in a child process with nothing else alive', () => {
  const run = (mode: 'unload' | 'quit', shapes: string[]) => {
    const child = spawnSync(process.execPath, [CHILD, tmp, mode, shapes.join(',')], { encoding: 'utf8', timeout: 30_000 });
    expect(child.stderr).toBe('');
    expect({ status: child.status, signal: child.signal }).toEqual({ status: 0, signal: null });
    const line = child.stdout.split('\n').find((l) => l.startsWith('UVD-SHAPE '));
    expect(line, child.stdout).toBeDefined();
    expect(JSON.parse(line!.slice('UVD-SHAPE '.length)).removed).toEqual(shapes.map(() => true));
  };

  for (const shape of SHAPES) {
    it(`${shape}: the child ends by itself with code 0 once the unload resolved`, () => run('unload', [shape]), 40_000);
  }

  it('all of them loaded together: the child ends by itself with code 0 once quit() resolved', () => run('quit', SHAPES), 60_000);
});
