// Run by test/shapes.test.ts in a child process whose host has nothing else
// alive:   node shape-child.mjs <dir> unload <shape>
//          node shape-child.mjs <dir> quit <shape,shape,...>
// Loads the shape(s) of test/modules/shapes/, waits until each is working,
// then unloads it (or quits them all together), stops the drivers, prints
// `UVD-SHAPE <json>` and returns: the process must end by itself.
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as uv from '../../dist/index.mjs';

const require = createRequire(import.meta.url);
const shapesDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'modules', 'shapes');
const { drivers } = require('../modules/shapes/drivers.cjs');
const [dir, mode, list] = process.argv.slice(2);
process.env.UVD_SHAPES_DIR = dir;
const shapes = list.split(',');

const coordinator = new uv.UnloadCoordinator({ timeoutMs: 10_000 });
const loaded = [];
for (const shape of shapes) {
  const file = path.join(shapesDir, shape, 'index.cjs');
  const { state } = require(file);
  const driver = drivers[shape]?.() ?? {};
  await driver.before?.(state, uv);
  await coordinator.load(shape, file);
  await driver.after?.(state);
  loaded.push({ shape, state, driver });
}
for (const { shape, state } of loaded) {
  for (let i = 0; i < 10_000 && state.working !== true; i++) await new Promise(setImmediate);
  if (state.working !== true) throw new Error(`${shape} never started working`);
}
let removed;
if (mode === 'unload') {
  const unloading = coordinator.unload(shapes[0]);
  loaded[0].driver.release?.(undefined, loaded[0].state);
  removed = [(await unloading).removed];
} else {
  const quitting = coordinator.quit({ order: 'parallel' });
  for (const { driver, state } of loaded) driver.release?.(undefined, state);
  removed = (await quitting).modules.map((m) => m.removed);
}
for (const { driver } of loaded) await driver.stop?.();
if (mode === 'unload') await coordinator.quit();
console.log(`UVD-SHAPE ${JSON.stringify({ mode, shapes, removed })}`);
