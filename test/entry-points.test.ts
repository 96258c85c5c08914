import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');

function run(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
}

describe('entry points', () => {
  it('require and import of uv-drain give the same functions and the same owners', () => {
    const out = run([
      '--input-type=module',
      '-e',
      `import { createRequire } from 'node:module';
       import * as esm from 'uv-drain';
       import esmDefault from 'uv-drain';
       const cjs = createRequire(process.cwd() + '/')('uv-drain');
       const names = ['snapshot', 'stats', 'countsFor', 'countsByOwner', 'withOwner', 'trackOwners', 'capi', 'capabilities'];
       const same = names.every((n) => esm[n] === cjs[n] && esmDefault[n] === cjs[n]);
       const ch = esm.withOwner('entry', () => new MessageChannel());
       const counted = cjs.countsFor('entry').total;
       ch.port1.close();
       console.log(JSON.stringify({ same, counted, types: names.map((n) => typeof cjs[n]) }));`,
    ]);
    expect(JSON.parse(out)).toEqual({
      same: true,
      counted: 2,
      types: ['function', 'function', 'function', 'function', 'function', 'function', 'object', 'object'],
    });
  });

  it('the prebuild file name scripts/prebuild.sh makes is one node-gyp-build loads', async () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
    const script = readFileSync(path.join(root, 'scripts', 'prebuild.sh'), 'utf8');
    const name = /prebuildify\/bin\.js --napi --strip --tag-libc --name (\S+)/.exec(script)![1];
    expect(name).toBe('node.napi');
    const nodeGypBuild = (await import('node-gyp-build')).default as unknown as {
      parseTags(file: string): unknown;
      matchTags(runtime: string, abi: string): (tags: unknown) => boolean;
    };
    const accepts = nodeGypBuild.matchTags('node', process.versions.modules);
    expect(accepts(nodeGypBuild.parseTags(`${name}.glibc.node`))).toBe(true); // --tag-libc on glibc
    // What prebuildify would name it without --name: never loaded.
    expect(accepts(nodeGypBuild.parseTags(`${pkg.name}.node`))).toBe(false);
  });

  it('the README example prints what the README says', () => {
    const lines = run(['examples/readme.mjs']).trim().split('\n');
    expect(lines[0]).toBe('{ total: 1, active: 1, ref: 1, closing: 0, requests: 0, timers: 0 }');
    expect(lines[1]).toBe('{ total: 1, active: 0, ref: 1, closing: 1, requests: 0, timers: 0 }');
    expect(lines).toContain("  owner: 'my-plugin',");
    expect(lines).toContain('  closing: true,');
    expect(lines.at(-1)).toBe('0');
  });

  it('the demo unloads a module while commits flow, quits, and ends by itself', () => {
    const out = run(['examples/demo.mjs']);
    const [, acked, lines] = /acknowledged commits: (\d+), lines on disk: (\d+)/.exec(out) ?? [];
    expect(Number(acked)).toBeGreaterThan(0);
    expect(lines).toBe(acked);
    expect(out).toContain('journal: removed=true');
    expect(out).toContain('c-commits: removed=true');
    expect(out).toContain('handles still holding the loop: none');
    expect(out).toContain('exiting by itself with code 0');
    expect(readFileSync(path.join(root, 'examples/demo.mjs'), 'utf8')).not.toMatch(/process\.exit\s*\(/);
  });
});
