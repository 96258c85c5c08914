// Scratch projects for the install tests: the packed tarball, package
// managers run as users run them, a PATH without a compiler.
import { spawn, spawnSync } from 'node:child_process';
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');

export const ROOT = path.join(__dirname, '..', '..');
export const ARCHS = ['x64', 'arm64'] as const;
export const PREBUILD = (arch: string) => `prebuilds/linux-${arch}/node.napi.glibc.node`;

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  output: string;
}

export function run(cmd: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: { ...(options.env ?? process.env), NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, output: `${stdout}\n${stderr}` }));
  });
}

/** `npm pack` of the repository into `dest`: the tarball's path and its file list. */
export function pack(dest: string): { tarball: string; files: string[] } {
  const out = spawnSync('npm', ['pack', '--json', '--pack-destination', dest], { cwd: ROOT, encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`npm pack failed:\n${out.stderr}`);
  const [info] = JSON.parse(out.stdout) as [{ filename: string; files: { path: string }[] }];
  return { tarball: path.join(dest, info.filename), files: info.files.map((f) => f.path) };
}

/** A new project directory with a package.json and the scratch suite (vitest config, spec, smoke script, README example). */
export function scratchProject(parent: string, name: string): string {
  const dir = fs.mkdtempSync(path.join(parent, `${name}-`));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'scratch', private: true, version: '1.0.0' }));
  for (const f of fs.readdirSync(path.join(__dirname, 'scratch'))) fs.copyFileSync(path.join(__dirname, 'scratch', f), path.join(dir, f));
  fs.copyFileSync(path.join(__dirname, 'smoke.mjs'), path.join(dir, 'smoke.mjs'));
  fs.copyFileSync(path.join(ROOT, 'examples', 'readme.mjs'), path.join(dir, 'readme.mjs'));
  return dir;
}

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'uvd-install-'));
}

/** npm's own CLI script (run with this node, so that a PATH without npm still works). */
export const NPM_CLI = fs.realpathSync(spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout.trim());
/** pnpm 10 from the repository's devDependencies. */
export const PNPM_CLI = path.join(ROOT, 'node_modules', 'pnpm', 'bin', 'pnpm.cjs');
/** The Vitest the repository tests with, for the scratch suites. */
export const VITEST = `vitest@${(require(path.join(ROOT, 'node_modules', 'vitest', 'package.json')) as { version: string }).version}`;

/**
 * A PATH with only node and the shell tools npm's scripts use: no cc, c++,
 * g++, make or python3 (the install of a machine without a toolchain).
 */
export function pathWithoutCompiler(parent: string): string {
  const bin = fs.mkdtempSync(path.join(parent, 'bin-'));
  for (const tool of ['sh', 'env', 'node', 'cat', 'ls', 'rm', 'mkdir', 'uname']) {
    const found = tool === 'node' ? process.execPath : spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
    fs.symlinkSync(found, path.join(bin, tool));
  }
  return bin;
}

/** Which of `tools` `sh -c 'command -v'` finds with this PATH. */
export function reachable(tools: string[], PATH: string): string[] {
  return tools.filter((t) => spawnSync('/bin/sh', ['-c', `command -v ${t}`], { env: { PATH } }).status === 0);
}
