// What `npm pack` puts in the package: the built entries and their sources
// (every source map resolves inside the package), the native sources and the
// install script, the docs, no tests, build output or development scripts.
import { execFileSync } from 'node:child_process';
import fs = require('node:fs');
import path = require('node:path');
import { expect, test } from 'vitest';

const ROOT = path.join(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  exports: Record<string, string | Record<string, string>>;
  bin: Record<string, string>;
  scripts: Record<string, string>;
};

// --ignore-scripts: no `prepare` (tsc) rewriting dist/ under the other test files.
const [packed] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' })) as [
  { files: { path: string }[] },
];
const files = packed.files.map((f) => f.path);

test('every entry point, the bin and the install script are in it', () => {
  const entries = Object.values(pkg.exports).flatMap((e) => (typeof e === 'string' ? [e] : Object.values(e)));
  for (const file of [...entries, ...Object.values(pkg.bin)]) expect(files).toContain(path.normalize(file));
  expect(pkg.scripts.install).toBe('node install/run.cjs');
  for (const file of ['install/run.cjs', 'install/platform.cjs', 'binding.gyp', 'native/include/uv_drain.h', 'native/include/uv_drain_module.h']) {
    expect(files).toContain(file);
  }
  expect(files).toEqual(expect.arrayContaining(['README.md', 'LICENSE', 'docs/design.md', 'docs/libuv-internals.md', 'docs/platforms.md']));
});

test('no tests, build output, development scripts or stray binaries', () => {
  const out = files.filter((f) => /^(test|bench|build|scripts|\.ci|\.cache|node_modules|examples\/(?!c-module\/))/.test(f));
  expect(out).toEqual([]);
  // Binaries only as prebuilds, one per platform (none in a clone: scripts/prebuild.sh makes them).
  expect(files.filter((f) => /\.(node|so|o)$/.test(f) && !/^prebuilds\/linux-(x64|arm64)\/node\.napi\.glibc\.node$/.test(f))).toEqual([]);
});

test('every source map points at files the package has', () => {
  const maps = files.filter((f) => f.startsWith('dist/') && f.endsWith('.map')); // not native/exports.map
  expect(maps.length).toBeGreaterThan(20);
  for (const map of maps) {
    const { sources } = JSON.parse(fs.readFileSync(path.join(ROOT, map), 'utf8')) as { sources: string[] };
    for (const source of sources) expect(files, `${map} → ${source}`).toContain(path.join(path.dirname(map), source));
  }
});
