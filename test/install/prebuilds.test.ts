// The prebuilds load on every glibc Node 20-26 run on (2.28 and later): the
// only libraries they need are glibc's, no symbol version newer than
// GLIBC_2.28, no libstdc++/libgcc version at all (both are linked in).
import { execFileSync } from 'node:child_process';
import fs = require('node:fs');
import path = require('node:path');
import { describe, expect, test } from 'vitest';

import { ARCHS, PREBUILD, ROOT } from './scratch';

const GLIBC_LIBS = ['libc.so.6', 'libm.so.6', 'libdl.so.2', 'libpthread.so.0', 'ld-linux-x86-64.so.2', 'ld-linux-aarch64.so.1'];
/** ELF e_machine: EM_X86_64, EM_AARCH64. */
const MACHINE = { x64: 62, arm64: 183 };

/** Versions compared part by part: [2, 28] < [2, 34]. */
const newer = (a: string, b: string) => {
  const [x, y] = [a.split('.').map(Number), b.split('.').map(Number)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) > (y[i] ?? 0);
  return false;
};

describe.each(ARCHS)('prebuilds/linux-%s', (arch) => {
  const file = path.join(ROOT, PREBUILD(arch));
  const headers = () => execFileSync('objdump', ['-p', '-f', file], { encoding: 'utf8' });

  test('is a stripped shared object for its machine', () => {
    const elf = fs.readFileSync(file);
    expect(elf.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(elf.readUInt16LE(16)).toBe(3); // ET_DYN
    expect(elf.readUInt16LE(18)).toBe(MACHINE[arch]);
    expect(execFileSync('objdump', ['-h', file], { encoding: 'utf8' })).not.toContain('.symtab');
  });

  test("exports Node-API's entry points and nothing else (native/exports.map)", () => {
    const dynamic = execFileSync('objdump', ['-T', file], { encoding: 'utf8' });
    const defined = [...dynamic.matchAll(/^[0-9a-f]+ g\s+\S+\s+(?!\*UND\*)\S+\s+\S+\s+(?:\S+\s+)?(\S+)$/gm)].map((m) => m[1]).sort();
    expect(defined).toEqual(['napi_register_module_v1', 'node_api_module_get_api_version_v1']);
  });

  test('needs only glibc, and no symbol version newer than GLIBC_2.28', () => {
    const text = headers();
    const needed = [...text.matchAll(/^\s+NEEDED\s+(\S+)$/gm)].map((m) => m[1]);
    expect(needed.filter((lib) => !GLIBC_LIBS.includes(lib))).toEqual([]);
    const versions = [...text.matchAll(/^\s+0x[0-9a-f]+ 0x[0-9a-f]+ \d+ (\S+)$/gm)].map((m) => m[1]!);
    expect(versions.length).toBeGreaterThan(0);
    expect(versions.filter((v) => !v.startsWith('GLIBC_'))).toEqual([]); // no GLIBCXX_, CXXABI_, GCC_
    expect(versions.filter((v) => newer(v.slice('GLIBC_'.length), '2.28'))).toEqual([]);
  });
});
