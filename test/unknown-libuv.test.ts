// A libuv whose layout the load-time probe does not confirm (forced with
// UV_DRAIN_TEST_PROBE=fail): uv-drain refuses to run rather than count from
// it, and uv-drain/vitest then warns and checks nothing, or fails with
// UV_DRAIN_REQUIRE=1. The same fixture suite without the override fails its
// leaking tests, so the "checks nothing" run is not a suite that cannot fail.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FIXTURE = path.join(ROOT, 'test', 'vitest-fixture');
const VITEST = path.join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
const PROBE_FAILS = { UV_DRAIN_TEST_PROBE: 'fail' };

async function run(args: string[], cwd: string, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, args, {
    cwd,
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', CI: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (output += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (output += s));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, output };
}

const leakySuite = (env: Record<string, string>) => run([VITEST, 'run', 'leaky.spec.ts'], FIXTURE, env);

describe('a libuv layout the probe does not confirm', () => {
  it.each([
    ['require', "require('./dist/index.js')"],
    ['import', "import('./dist/index.mjs').catch((e) => { console.error(e.code, e.message); process.exit(1); })"],
  ])('%s throws UVD_ERR_LIBUV_LAYOUT naming the libuv version', async (_, code) => {
    const { code: exit, output } = await run(['-e', code], ROOT, PROBE_FAILS);
    expect(exit).toBe(1);
    expect(output).toContain('UVD_ERR_LIBUV_LAYOUT');
    expect(output).toContain(`uv-drain does not know the layout of libuv ${process.versions.uv} (Node ${process.version})`);
  });

  it('uv-drain/vitest warns once and checks nothing; the same suite fails its leaks otherwise', async () => {
    const checked = await leakySuite({});
    expect(checked.code, checked.output).toBe(1);
    expect(checked.output).toContain('uv-drain: test "a suite > leaks an interval"');

    expect(checked.output).toMatch(/× leaks an interval/);

    // Still 1: one of its tests fails its own assertion. The leaking ones pass.
    const unchecked = await leakySuite(PROBE_FAILS);
    expect(unchecked.code, unchecked.output).toBe(1);
    expect(unchecked.output).toMatch(/✓ leaks a server \d+ms/);
    expect(unchecked.output).toMatch(/✓ leaks an interval \d+ms/);
    expect(unchecked.output).not.toContain('uv-drain: test');
    expect(unchecked.output.match(/uv-drain\/vitest checks nothing here/g)).toHaveLength(1);
  });

  it('with UV_DRAIN_REQUIRE=1 the suite fails with the reason', async () => {
    const required = await leakySuite({ ...PROBE_FAILS, UV_DRAIN_REQUIRE: '1' });
    expect(required.code).toBe(1);
    expect(required.output).toContain('UvDrainError: uv-drain does not know the layout of libuv');
  });
});
