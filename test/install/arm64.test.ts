// linux-arm64 under qemu user-mode emulation: the packed package installed
// into a scratch project, then the smoke script (load, capabilities, README
// example, a drain, a leak check) run by the registry's arm64 Node binary with
// the arm64 glibc of Debian's cross packages. Plain scripts only: the emulated
// process cannot start child processes (no binfmt), so no CLI and no Vitest.
import { execFileSync } from 'node:child_process';
import fs = require('node:fs');
import path = require('node:path');
import { afterAll, beforeAll, expect, test } from 'vitest';

import { NPM_CLI, pack, PREBUILD, ROOT, run, scratchProject, tempDir } from './scratch';

const QEMU = 'qemu-aarch64-static';
const ARM64_LIBC = '/usr/aarch64-linux-gnu';
let parent: string;

beforeAll(() => {
  parent = tempDir();
});
afterAll(() => fs.rmSync(parent, { recursive: true, force: true }));

test.each(['20', '24'])('Node %s arm64: the prebuild loads and works', async (major) => {
  const node = path.join(execFileSync('bash', [path.join(ROOT, 'scripts', 'node-dist.sh'), major, 'arm64'], { encoding: 'utf8' }).trim(), 'bin', 'node');
  const { tarball } = pack(parent);
  const dir = scratchProject(parent, `arm64-${major}`);
  const install = await run(process.execPath, [NPM_CLI, 'install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: dir });
  expect(install.code, install.output).toBe(0);

  const smoke = await run(QEMU, ['-L', ARM64_LIBC, node, 'smoke.mjs'], { cwd: dir });
  expect(smoke.code, smoke.output).toBe(0);
  const result = JSON.parse(smoke.stdout.match(/^smoke ok (.*)$/m)![1]!) as { arch: string; node: string; binary: string };
  expect(result.arch).toBe('arm64');
  expect(result.node).toMatch(new RegExp(`^v${major}\\.`));
  expect(result.binary).toBe(PREBUILD('arm64'));
});
