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
import { closeServer } from './helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FIXTURE = path.join(ROOT, 'test', 'vitest-fixture');
const VITEST = path.join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
/** Fixture runs per pool, each checked in full (UVD_FIXTURE_RUNS=10: the "10 runs in a row" corpus check). */
const RUNS = Number(process.env.UVD_FIXTURE_RUNS ?? 1);
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

// The fixture's stand-in library must sit under node_modules (that is what
// makes it a library's code); node_modules is never committed.
function installFixturePackages(): void {
  const target = path.join(FIXTURE, 'node_modules', 'clock-lib');
  fs.rmSync(target, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.cpSync(path.join(FIXTURE, 'packages', 'clock-lib'), target, { recursive: true });
}

async function runFixture(pool: 'forks' | 'threads'): Promise<{
  code: number | null;
  output: string;
  results: Map<string, { status: string; message: string }>;
  /** File-level failures (a hook of the file itself), by file name. */
  files: Map<string, string>;
}> {
  installFixturePackages();
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
      for (let run = 1; run <= RUNS; run++) {
        await expectExactFailures(pool);
        if (RUNS > 1) console.log(`[vitest-integration] ${pool} pool: run ${run} of ${RUNS} as expected`);
      }
    }, RUNS * 60_000);
  }
});

/** One Vitest run of the fixture: exactly the leaky tests, blocks and files fail, with the right reports. */
async function expectExactFailures(pool: 'forks' | 'threads'): Promise<void> {
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
    // Scopes: hooks' resources are their block's, concurrent tests each their own.
    'beforeEach leaks a client passes': 'passed',
    'beforeEach leaks a client passes too': 'passed',
    'outer nested beforeAll never closes its server passes': 'passed',
    'outer passes outside the leaky block': 'passed',
    'concurrent slow one leaks a server': 'failed',
    'concurrent quick one closes its server': 'passed',
    'concurrent another quick one closes its server': 'passed',
    'singleton first use makes the library’s clock': 'passed',
    'singleton a later use shares it': 'passed',
    'singleton closes its poller': 'passed',
    'singleton leaves a poller open while another one is alive': 'failed',
    // The clean corpus: HTTP-heavy shapes that leak nothing.
    'http hooks fetches JSON': 'passed',
    'http hooks fetches in a promise chain, no await': 'passed',
    'http hooks reads a streamed body chunk by chunk': 'passed',
    'http hooks posts a streamed request body': 'passed',
    'http hooks sends requests in parallel through the file’s keep-alive agent': 'passed',
    'http hooks goes through Node’s global agent': 'passed',
    'http hooks aborts a fetch': 'passed',
    'http hooks gives up on a slow answer with AbortSignal.timeout': 'passed',
    'http hooks destroys an http.get in flight': 'passed',
    'http2 sessions from beforeEach gets one path': 'passed',
    'http2 sessions from beforeEach gets two streams at once': 'passed',
    'http2 sessions from beforeEach a nested block with its own server talks to both servers': 'passed',
    'https answers through the global agent': 'passed',
    'https answers twice through the file’s agent, on one socket': 'passed',
    'a worker pool from beforeAll sums on a worker': 'passed',
    'a worker pool from beforeAll sums on both workers at once': 'passed',
    'a worker pool from beforeAll runs a child process to its end': 'passed',
    'a worker pool from beforeAll runs a worker of its own to its end': 'passed',
    'a worker pool from beforeAll runs a worker of its own that is gone before its message is read': 'passed',
    'fixtures uses a server fixture': 'passed',
    'fixtures connects to the fixture’s server': 'passed',
    'fixtures closes its server in onTestFinished': 'passed',
    'loop turns requests through the global agent': 'passed',
    'loop turns starts in the same loop turn': 'passed',
    // npm undici's pools: the global dispatcher's and a collection-time Agent's sockets are no test's.
    'undici pools global fetch goes through npm undici’s global dispatcher': 'passed',
    'undici pools undici’s own fetch, same dispatcher': 'passed',
    'undici pools an Agent made while the file is collected': 'passed',
    'undici pools leaks an Agent of its own': 'failed',
    // Per-test options.
    'overrides ignores tcp for itself': 'passed',
    'overrides is checked with the file’s options again': 'failed',
  });
  expect(output).toContain('uv-drain (warning, strict: ref): test "strict ref > leaves an unref’d timer: a warning"');
  expect(results.get('strict ref leaves a listening server: a failure')!.message).toContain(
    `at ${siteOf('// leak:strict-ref', 'strict-ref.spec.ts')}`,
  );
  // Clean files fail nothing at file level.
  for (const clean of ['leaky', 'http-shared', 'http-hooks', 'http2-hooks', 'https', 'workers', 'fixtures', 'concurrent', 'singleton', 'loop-turns', 'overrides', 'undici-pools']) {
    expect(files.get(`${clean}.spec.ts`), clean).toBe('');
  }
  // A block's leak fails the block (Vitest's "Failed Suites"); its tests pass.
  expect(output).toContain('FAIL  block-leaks.spec.ts > beforeEach leaks a client');
  expect(output).toMatch(
    /uv-drain: describe "beforeEach leaks a client" \(block-leaks\.spec\.ts\): its hooks left 4 handles alive after its afterAll/,
  );
  expect(output).toContain(`at ${siteOf('// leak:beforeEach', 'block-leaks.spec.ts')}`);
  expect(output).toContain('(born in a callback of a TCP server made at:)');
  expect(output).toContain('FAIL  block-leaks.spec.ts > outer > nested beforeAll never closes its server');
  expect(output).toMatch(/uv-drain: describe "nested beforeAll never closes its server" \(block-leaks\.spec\.ts\): its hooks left 1 handle alive/);
  expect(output).toContain(`at ${siteOf('// leak:nested-beforeAll', 'block-leaks.spec.ts')}`);
  expect(output).not.toContain('FAIL  block-leaks.spec.ts > outer\n');
  // Concurrent: the slow test's own server, with the line that made it (born after its lookup).
  const slow = results.get('concurrent slow one leaks a server')!.message;
  expect(slow).toMatch(/left 1 handle alive/);
  expect(slow).toContain('— TCP server 127.0.0.1:');
  expect(slow).toContain(`at ${siteOf('// leak:concurrent', 'concurrent.spec.ts')}`);
  expect(results.get('overrides is checked with the file’s options again')!.message).toContain(
    `at ${siteOf('// leak:override', 'overrides.spec.ts')}`,
  );
  // A library's frames are cut short so that the test's line stays in view.
  const undici = results.get('undici pools leaks an Agent of its own')!.message;
  expect(undici).toMatch(/… \d+ more frames in undici\n {4}at undici-pools\.spec\.ts:/);
  expect(undici).toContain(`at ${siteOf('// leak:undici-agent', 'undici-pools.spec.ts')}`);
  // The second poller alive from the library's line is no singleton.
  const poller = results.get('singleton leaves a poller open while another one is alive')!.message;
  expect(poller).toContain('left 1 JS timer alive');
  expect(poller).toContain(`at ${siteOf('// leak:poller-2', 'singleton.spec.ts')}`);
  const fileLeak = files.get('file-scope.spec.ts')!;
  // What the collection made fails the file; the block's beforeAll server fails the block.
  expect(fileLeak).toMatch(
    /^uv-drain: file-scope\.spec\.ts: its collection \(describe callbacks, top-level code\) left 1 handle alive after its last afterAll/,
  );
  expect(fileLeak).toContain(`at ${siteOf('// leak:collection', 'file-scope.spec.ts')}`);
  expect(output).toContain('FAIL  file-scope.spec.ts > file scope');
  expect(output).toContain(`at ${siteOf('// leak:beforeAll', 'file-scope.spec.ts')}`);
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
}

// ----------------------------------------------------------- matchers ----

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

  it('configureLeakCheck() inside a test: that test’s options, tracking fixed', () => {
    expect(() => configureLeakCheck({ tracking: false })).toThrow(RangeError);
    expect(() => configureLeakCheck({ tracking: false })).toThrow(/"tracking" option cannot change inside a test/);
    expect(() => configureLeakCheck({ graceMs: Number.NaN })).toThrow(RangeError);
    configureLeakCheck({ graceMs: 50, strict: 'all' });
  });

  it('configureLeakCheck() validates its options', () => {
    expect(() => configureLeakCheck({ graceMs: -5 })).toThrow(RangeError);
    expect(() => configureLeakCheck({ enabled: 'no' as unknown as boolean })).toThrow(/"enabled" option/);
    expect(() => configureLeakCheck({ strict: 'some' as unknown as 'all' })).toThrow(/"strict" option must be 'all' or 'ref'/);
  });
});
