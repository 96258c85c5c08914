// uv-drain/vitest: Vitest itself, run in a child process on a small project
// (test/vitest-fixture/) in both pools, fails exactly the tests that leaked
// with a report that names the test and the line that made the handle; and
// the matchers and the per-test opt-out, in this very suite (whose every
// test runs inside the same check: vitest.config.mjs).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner } from '../dist/index.js';
import { allowLeaks, configureLeakCheck } from '../dist/vitest/index.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FIXTURE = path.join(ROOT, 'test', 'vitest-fixture');
const VITEST = path.join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
/** `<spec>:<line>:` of the fixture line that holds `marker`. */
function siteOf(marker: string, spec = 'leaky.spec.ts'): string {
  const lines = fs.readFileSync(path.join(FIXTURE, spec), 'utf8').split('\n');
  return `${spec}:${lines.findIndex((line) => line.includes(marker)) + 1}:`;
}

interface JsonResult {
  testResults: {
    name: string;
    message: string;
    assertionResults: { fullName: string; status: string; failureMessages: string[] }[];
  }[];
}

async function runFixture(pool: 'forks' | 'threads'): Promise<{
  code: number | null;
  output: string;
  results: Map<string, { status: string; message: string }>;
  /** File-level failures (a hook of the file itself), by file name. */
  files: Map<string, string>;
}> {
  const json = path.join(os.tmpdir(), `uv-drain-vitest-${process.pid}-${pool}.json`);
  const child = spawn(
    process.execPath,
    [VITEST, 'run', '--pool', pool, '--reporter=default', '--reporter=json', `--outputFile.json=${json}`],
    { cwd: FIXTURE, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', CI: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (output += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (output += s));
  const [code] = (await once(child, 'close')) as [number | null];
  const parsed = JSON.parse(fs.readFileSync(json, 'utf8')) as JsonResult;
  fs.rmSync(json, { force: true });
  const results = new Map<string, { status: string; message: string }>();
  const files = new Map<string, string>();
  for (const file of parsed.testResults) {
    files.set(path.basename(file.name), file.message);
    for (const test of file.assertionResults) {
      results.set(test.fullName, { status: test.status, message: test.failureMessages.join('\n') });
    }
  }
  return { code, output, results, files };
}

describe('Vitest on a project that uses uv-drain/vitest as its setup file', () => {
  for (const pool of ['forks', 'threads'] as const) {
    it(`fails exactly the leaking tests, naming the test and the creating line (${pool} pool)`, async () => {
      const { code, output, results, files } = await runFixture(pool);
      expect(code, output).toBe(1);
      expect(Object.fromEntries([...results].map(([name, r]) => [name, r.status]))).toEqual({
        'a suite closes its server': 'passed',
        'a suite leaks a server': 'failed',
        'a suite leaks an interval': 'failed',
        'a suite leaks a server but opted out': 'passed',
        'a suite fails its own assertion and leaks: only its own error is reported': 'failed',
        'passes at the top level': 'passed',
        'shared http answers with a Date header (Node caches it with a timer)': 'passed',
        'shared http reuses the global agent keep-alive socket': 'passed',
        'shared http fetches through the global dispatcher': 'passed',
        'shared http leaks a keep-alive agent of its own': 'failed',
        'shared http, server on the default (dual-stack) address fetches over IPv4': 'passed',
        'fake timers left installed by a clean test': 'passed',
        'fake timers left installed by a test that leaks a server': 'failed',
        'fake timers back to real timers': 'passed',
        'file scope uses the servers the file made': 'passed',
        'strict ref leaves an unref’d timer: a warning': 'passed',
        'strict ref leaves a listening server: a failure': 'failed',
      });
      expect(output).toContain('uv-drain (warning, strict: ref): test "strict ref > leaves an unref’d timer: a warning"');
      expect(results.get('strict ref leaves a listening server: a failure')!.message).toContain(
        `at ${siteOf('// leak:strict-ref', 'strict-ref.spec.ts')}`,
      );
      // What the file's collection and beforeAll made and never closed fails the file, not a test.
      expect(files.get('leaky.spec.ts')).toBe('');
      expect(files.get('http-shared.spec.ts')).toBe('');
      const fileLeak = files.get('file-scope.spec.ts')!;
      expect(fileLeak).toMatch(/^uv-drain: the collection and beforeAll hooks of file-scope\.spec\.ts left 2 handles alive after its last afterAll/);
      expect(fileLeak).toContain(`at ${siteOf('// leak:collection', 'file-scope.spec.ts')}`);
      expect(fileLeak).toContain(`at ${siteOf('// leak:beforeAll', 'file-scope.spec.ts')}`);
      expect(results.get('fake timers left installed by a test that leaks a server')!.message).toContain(
        `at ${siteOf('// leak:fake-timers', 'fake-timers.spec.ts')}`,
      );
      expect(results.get('shared http leaks a keep-alive agent of its own')!.message).toMatch(/left \d+ handles? alive/);
      const server = results.get('a suite leaks a server')!.message;
      expect(server).toMatch(/^LeakError: uv-drain: test "a suite > leaks a server" \(leaky\.spec\.ts\) left 1 handle alive/);
      expect(server).toMatch(/tcp 0x[0-9a-f]{16} {2}active ref, fd \d+, owner -, module /);
      expect(server).toContain(`at ${siteOf('// leak:server')}`);
      const interval = results.get('a suite leaks an interval')!.message;
      expect(interval).toContain('left 1 JS timer alive');
      expect(interval).toContain('every 10000 ms, callback heartbeat()');
      expect(interval).toContain(`at ${siteOf('// leak:interval')}`);
      const own = results.get('a suite fails its own assertion and leaks: only its own error is reported')!.message;
      expect(own).toContain('expected 1 to be 2');
      // No leak report (a path may well contain "uv-drain": match the report's words).
      expect(own).not.toContain('uv-drain:');
      expect(own).not.toContain('born since the check began');
      // The readable report is what a developer sees on the terminal.
      expect(output).toContain('FAIL  leaky.spec.ts > a suite > leaks a server');
      expect(output).toContain(`uv-drain: test "a suite > leaks a server" (leaky.spec.ts) left 1 handle alive`);
    });
  }
});

// ----------------------------------------------------------- matchers ----

function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

describe('expect(fn).toLeakHandles()', () => {
  it('passes .not when the function closes what it made', async () => {
    await expect(async () => {
      const server = net.createServer().listen(0);
      await closeServer(server);
    }).not.toLeakHandles();
  });

  it('passes when the function leaves a handle alive', async () => {
    let server: net.Server | undefined;
    await expect(() => {
      server = net.createServer().listen(0);
    }).toLeakHandles({ graceMs: 20 });
    await closeServer(server!);
  });

  it('fails .not with the leak report', async () => {
    let interval: NodeJS.Timeout | undefined;
    const failing = expect(() => {
      interval = setInterval(function leaked() {}, 10_000);
    }).not.toLeakHandles({ graceMs: 20 });
    await expect(failing).rejects.toThrow(/expected the function not to leak, but it left 1 JS timer alive:[^]*callback leaked\(\)/);
    clearInterval(interval);
  });

  it('fails without .not when the function leaves nothing', async () => {
    await expect(expect(() => {}).toLeakHandles()).rejects.toThrow('but it left nothing');
  });
});

describe('expect(owner).toHaveDrained()', () => {
  it('passes once the owner’s handles are gone, closing ones included', async () => {
    const server = withOwner('vitest-matcher/drains', () => net.createServer().listen(0));
    server.close();
    await expect('vitest-matcher/drains').toHaveDrained();
  });

  it('fails with the owner’s counts and handles when it does not drain in time', async () => {
    const server = withOwner('vitest-matcher/holds', () => net.createServer().listen(0));
    await expect('vitest-matcher/holds').not.toHaveDrained({ timeoutMs: 20 });
    await expect(expect('vitest-matcher/holds').toHaveDrained({ timeoutMs: 20 })).rejects.toThrow(
      /expected owner "vitest-matcher\/holds" to drain within 20 ms; it still has \{"total":1,"active":1,"ref":1[^]*tcp 0x[0-9a-f]{16} active ref/,
    );
    await closeServer(server);
  });

  it('rejects a received value that is not an owner name', async () => {
    await expect(expect(42).toHaveDrained()).rejects.toThrow(/expects an owner name/);
  });
});

// ------------------------------------------------------------ opt-out ----

describe('allowLeaks()', () => {
  let kept: net.Server | undefined;
  let outside: unknown;
  beforeAll(() => {
    try {
      allowLeaks();
    } catch (error) {
      outside = error;
    }
  });
  afterAll(async () => {
    await closeServer(kept!);
  });

  it('lets one test leave a handle alive (closed by this suite’s afterAll)', () => {
    allowLeaks('the server is closed in afterAll, after the check');
    kept = net.createServer().listen(0);
  });

  it('throws outside a test (here: from a beforeAll hook)', () => {
    expect(outside).toBeInstanceOf(Error);
    expect((outside as Error).message).toMatch(/allowLeaks\(\) must be called inside a test/);
  });

  it('configureLeakCheck() validates its options', () => {
    expect(() => configureLeakCheck({ graceMs: -5 })).toThrow(RangeError);
    expect(() => configureLeakCheck({ enabled: 'no' as unknown as boolean })).toThrow(/"enabled" option/);
    expect(() => configureLeakCheck({ strict: 'some' as unknown as 'all' })).toThrow(/"strict" option must be 'all' or 'ref'/);
  });
});
