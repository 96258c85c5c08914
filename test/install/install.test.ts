// The packed tarball installed the ways users install it, each in a scratch
// project: it loads its prebuild (nothing compiled) and the README example,
// both entries, the CLI and the Vitest setup file work. Then the paths where
// it cannot load: an unsupported platform, no prebuild and no compiler.
import { execFileSync } from 'node:child_process';
import fs = require('node:fs');
import path = require('node:path');
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { ARCHS, NPM_CLI, pack, PNPM_CLI, PREBUILD, pathWithoutCompiler, reachable, run, scratchProject, tempDir, VITEST } from './scratch';

let parent: string;
let tarball: string;
let files: string[];
let barePath: string;

beforeAll(() => {
  for (const arch of ARCHS) {
    if (!fs.existsSync(path.join(__dirname, '..', '..', PREBUILD(arch)))) {
      throw new Error(`${PREBUILD(arch)} is missing: run scripts/prebuild.sh (as root) first`);
    }
  }
  parent = tempDir();
  ({ tarball, files } = pack(parent));
  barePath = pathWithoutCompiler(parent);
});
afterAll(() => fs.rmSync(parent, { recursive: true, force: true }));

const npm = (args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) =>
  run(process.execPath, [NPM_CLI, ...args, '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts'], { cwd, env });

test('the tarball carries the prebuilds, the install script and no build output', () => {
  for (const arch of ARCHS) expect(files).toContain(PREBUILD(arch));
  expect(files).toContain('install/run.cjs');
  expect(files.filter((f) => f.startsWith('build/') || f.startsWith('test/') || f.startsWith('node_modules/'))).toEqual([]);
});

const ways: { name: string; install: (dir: string) => ReturnType<typeof run>; env?: () => NodeJS.ProcessEnv }[] = [
  { name: 'npm install', install: (dir) => npm(['install', tarball, VITEST], dir) },
  {
    name: 'pnpm 10 (build scripts blocked, its default)',
    install: (dir) => run(process.execPath, [PNPM_CLI, 'add', tarball, VITEST], { cwd: dir }),
  },
  { name: 'npm install --ignore-scripts', install: (dir) => npm(['install', '--ignore-scripts', tarball, VITEST], dir) },
  {
    name: 'npm install with no compiler on PATH',
    env: () => ({ ...process.env, PATH: barePath }),
    install: (dir) => npm(['install', tarball, VITEST], dir, { ...process.env, PATH: barePath }),
  },
];

describe.each(ways)('$name', ({ install, env }) => {
  let dir: string;
  const environment = () => (env ? env() : process.env);

  beforeAll(async () => {
    if (env) expect(reachable(['cc', 'c++', 'g++', 'make', 'python3'], environment().PATH!)).toEqual([]);
    dir = scratchProject(parent, 'project');
    const done = await install(dir);
    expect(done.code, done.output).toBe(0);
  });

  test('nothing was compiled: the prebuild loads (both entries, README example, a drain, a leak check)', async () => {
    expect(fs.existsSync(path.join(dir, 'node_modules', 'uv-drain', 'build'))).toBe(false);
    const smoke = await run('node', ['smoke.mjs'], { cwd: dir, env: environment() });
    expect(smoke.code, smoke.output).toBe(0);
    expect(smoke.stdout).toContain(`"binary":"${PREBUILD('x64')}"`);
    // The README's output, first lines: a listening server, then closing.
    expect(smoke.stdout).toMatch(/^\{ total: 1, active: 1, ref: 1, closing: 0, requests: 0, timers: 0 \}\n\{ total: 1, active: 0, ref: 1, closing: 1, requests: 0, timers: 0 \}\n/);
  });

  test('the uv-drain command reports what holds a program open', async () => {
    const why = await run(path.join('node_modules', '.bin', 'uv-drain'), ['why', '--after', '300', '--idle', '0', '--', 'node', 'holder.cjs'], {
      cwd: dir,
      env: environment(),
    });
    expect(why.code, why.output).toBe(0);
    expect(why.stderr).toMatch(/^uv-drain why — what holds the loop of pid \d+/m);
    expect(why.stderr).toMatch(/^  tcp 0x[0-9a-f]{16} active ref, fd \d+$/m);
    expect(why.stderr).toContain(`${path.join(dir, 'holder.cjs')}:3:`); // its creation stack
  });

  test('uv-drain/vitest as a setup file fails exactly the leaking test', async () => {
    const vitest = await run('node', [path.join('node_modules', 'vitest', 'vitest.mjs'), 'run'], { cwd: dir, env: environment() });
    expect(vitest.code, vitest.output).toBe(1);
    expect(vitest.output).toContain('uv-drain: test "leaks an interval"');
    expect(vitest.output).toMatch(/Tests\s+1 failed \| 1 passed/);
  });
});

describe('where it cannot load', () => {
  test('an unsupported platform: the install succeeds and builds nothing, require throws, uv-drain/vitest warns and checks nothing', async () => {
    const env = { ...process.env, UV_DRAIN_TEST_PLATFORM: 'darwin' };
    const dir = scratchProject(parent, 'darwin');
    const done = await npm(['install', tarball, VITEST], dir, env);
    expect(done.code, done.output).toBe(0);
    expect(done.output).toContain('uv-drain runs on Linux with glibc only');
    expect(done.output).toContain('this is darwin-x64.');
    expect(fs.existsSync(path.join(dir, 'node_modules', 'uv-drain', 'build'))).toBe(false);

    for (const code of ["require('uv-drain')", "import('uv-drain').catch((e) => { throw e; })"]) {
      const load = await run('node', ['-e', code], { cwd: dir, env });
      expect(load.code).toBe(1);
      expect(load.stderr).toContain("code: 'UVD_ERR_UNSUPPORTED_PLATFORM'");
    }

    const vitest = await run('node', [path.join('node_modules', 'vitest', 'vitest.mjs'), 'run'], { cwd: dir, env });
    expect(vitest.code, vitest.output).toBe(0);
    expect(vitest.output.match(/uv-drain\/vitest checks nothing here/g)).toHaveLength(1);

    const required = await run('node', [path.join('node_modules', 'vitest', 'vitest.mjs'), 'run'], { cwd: dir, env: { ...env, UV_DRAIN_REQUIRE: '1' } });
    expect(required.code).toBe(1);
    expect(required.output).toMatch(/UvDrainError: uv-drain runs on Linux with glibc only .*; this is darwin-x64\./);
  });

  test('musl: treated as unsupported (no dladdr1), the install builds nothing and require says why', async () => {
    const env = { ...process.env, LIBC: 'musl' };
    const dir = scratchProject(parent, 'musl');
    const done = await npm(['install', tarball], dir, env);
    expect(done.code, done.output).toBe(0);
    expect(fs.existsSync(path.join(dir, 'node_modules', 'uv-drain', 'build'))).toBe(false);
    const load = await run('node', ['-e', "require('uv-drain')"], { cwd: dir, env });
    expect(load.code).toBe(1);
    expect(load.stderr).toContain("code: 'UVD_ERR_UNSUPPORTED_PLATFORM'");
    expect(load.stderr).toContain('this is linux-x64 (musl)');
  });

  test('no matching prebuild and no compiler: the install fails with one message naming the platform and what to install', async () => {
    const dir = scratchProject(parent, 'no-prebuild');
    const done = await npm(['install', withoutPrebuilds()], dir, { ...process.env, PATH: barePath });
    expect(done.code).not.toBe(0);
    const lines = done.output.split('\n').filter((l) => l.startsWith('uv-drain:'));
    expect(lines).toEqual([
      'uv-drain: there is no prebuilt binary for linux-x64 (glibc) and it cannot be compiled here: python3, make, a C++ compiler (g++) not found on PATH. Install python3, make and g++ (Debian/Ubuntu: apt-get install python3 make g++; Fedora/RHEL: dnf install python3 make gcc-c++), then run npm rebuild uv-drain.',
    ]);
  });

  test('no matching prebuild, install scripts skipped: require names the platform and what to install', async () => {
    const dir = scratchProject(parent, 'no-prebuild-noscripts');
    const done = await npm(['install', '--ignore-scripts', withoutPrebuilds()], dir);
    expect(done.code, done.output).toBe(0);
    const load = await run('node', ['-e', "require('uv-drain')"], { cwd: dir });
    expect(load.code).toBe(1);
    expect(load.stderr).toContain("code: 'UVD_ERR_NO_BINARY'");
    expect(load.stderr).toContain('uv-drain has no native binary for linux-x64 (glibc)');
  });
});

let bare: string | undefined;
/** The tarball with its prebuilds taken out: the package as a platform without a prebuild gets it. */
function withoutPrebuilds(): string {
  if (bare) return bare;
  const work = fs.mkdtempSync(path.join(parent, 'repack-'));
  execFileSync('tar', ['-xzf', tarball, '-C', work]);
  fs.rmSync(path.join(work, 'package', 'prebuilds'), { recursive: true });
  bare = path.join(work, 'uv-drain-without-prebuilds.tgz');
  execFileSync('tar', ['-czf', bare, '-C', work, 'package']);
  return bare;
}
