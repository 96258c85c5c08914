// The uv-drain command, run for real on real programs: what it prints (on
// SIGUSR2, after --after, when the program would not exit), where it prints
// it (never on the program's stdout), and that the program's own output,
// input and exit status are unchanged.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT, EXIT_STATUS, OPTIONS } from '../dist/cli/args.js';
import type { ProcessReport } from '../dist/cli/report.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');
const DIST = path.join(ROOT, 'dist', 'index.js');
const NODE = fs.realpathSync(process.execPath);
const HAS_SCRIPT = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uv-drain-cli-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Writes a program into the temp dir; returns its path. */
function program(name: string, source: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, source);
  return file;
}

/** `name:<line>:` of the line of `source` that holds `marker`. */
function siteOf(name: string, source: string, marker: string): string {
  return `${name}:${source.split('\n').findIndex((l) => l.includes(marker)) + 1}:`;
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; `during(child, output)` may act on it while it runs. */
async function cli(
  args: string[],
  options: { input?: string; during?: (pid: number, stderr: () => string, stdout: () => string) => Promise<void> } = {},
): Promise<Run> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  child.stdin.end(options.input ?? '');
  const closed = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  if (options.during !== undefined) await options.during(child.pid!, () => stderr, () => stdout);
  const [code, signal] = await closed;
  return { code, signal, stdout, stderr };
}

async function waitFor(get: () => string, text: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!get().includes(text)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${JSON.stringify(text)} in:\n${get()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// A program that holds its loop with a server, an owned server and an
// interval, and lets go of everything on its own after `HOLD_MS`.
const HOLD_MS = 1_500;
const HOLDER = `
const net = require('node:net');
const { withOwner } = require(${JSON.stringify(DIST)});
const server = net.createServer().listen(0); // site:server
const owned = withOwner('plugin-a', () => net.createServer().listen(0)); // site:owned
const interval = setInterval(function heartbeat() {}, 10_000); // site:interval
process.stdout.write('ready\\n');
setTimeout(() => {
  server.close();
  owned.close();
  clearInterval(interval);
  process.stdout.write('bye\\n');
  process.exitCode = 7;
}, ${HOLD_MS});
`;

describe('uv-drain why', () => {
  it('--after: prints what holds the loop, grouped by owner and module, with creation lines; the program’s output and exit code are its own', async () => {
    const app = program('holder.js', HOLDER);
    const run = await cli(['why', '--after', '300', '--idle', '0', '--', 'node', app]);
    expect(run).toMatchObject({ code: 7, signal: null, stdout: 'ready\nbye\n' });
    const err = run.stderr;
    expect(err).toMatch(/^uv-drain why — what holds the loop of pid \d+ \(node .*holder\.js\), after --after, at \d+ ms\n/);
    expect(err).toContain('2 handles, 2 JS timers hold the loop');
    expect(err).toContain(`owner (none) · module ${NODE}`);
    expect(err).toContain(`owner plugin-a · module ${NODE}`);
    expect(err).toContain('owner (none) · JS timers');
    expect(err).toMatch(/ {2}tcp 0x[0-9a-f]{16} active ref, fd \d+\n {6}at .*holder\.js:\d+:\d+/);
    expect(err).toContain(siteOf('holder.js', HOLDER, '// site:server'));
    expect(err).toContain(siteOf('holder.js', HOLDER, '// site:owned'));
    expect(err).toMatch(/Timeout timeout:\d+ ref every 10000 ms, callback heartbeat\(\)/);
    expect(err).toContain(siteOf('holder.js', HOLDER, '// site:interval'));
    expect(err).toMatch(/Timeout timeout:\d+ ref after 1500 ms\n/);
    // Plain text when piped: no colours.
    expect(err).not.toContain('\u001b[');
    // Exactly one report.
    expect(err.match(/^uv-drain why/gm)).toHaveLength(1);
  });

  it('reports when the program would not exit (idle while held open), once; SIGTERM to uv-drain reaches the program', async () => {
    const source = `
require('node:net').createServer().listen(0); // site:stuck
console.log('listening');
`;
    const app = program('stuck.js', source);
    const run = await cli(['why', '--idle', '300', '--', 'node', app], {
      during: async (pid, stderr) => {
        await waitFor(stderr, 'it would not exit');
        await new Promise((resolve) => setTimeout(resolve, 600));
        process.kill(pid, 'SIGTERM');
      },
    });
    // The program died of SIGTERM, and uv-drain ends the same way.
    expect(run).toMatchObject({ code: null, signal: 'SIGTERM', stdout: 'listening\n' });
    expect(run.stderr).toContain('idle while held open: it would not exit');
    expect(run.stderr).toContain('1 handle, 0 JS timers hold the loop');
    expect(run.stderr).toContain(siteOf('stuck.js', source, '// site:stuck'));
    expect(run.stderr.match(/^uv-drain why/gm)).toHaveLength(1);
  });

  it('reports on SIGUSR2, each time, whether sent to uv-drain or to the program', async () => {
    const source = `
require('node:net').createServer().listen(0);
console.log(process.pid);
process.on('SIGTERM', () => process.exit(0));
`;
    const app = program('usr2.js', source);
    let appPid = 0;
    const run = await cli(['why', '--idle', '0', '--', 'node', app], {
      during: async (pid, stderr, stdout) => {
        // The preload runs before the program's first line: once it printed its pid, SIGUSR2 is handled.
        await waitFor(stdout, '\n');
        appPid = Number(stdout().trim());
        process.kill(pid, 'SIGUSR2');
        await waitFor(stderr, 'on SIGUSR2');
        process.kill(appPid, 'SIGUSR2');
        await waitFor(() => String(stderr().match(/on SIGUSR2/g)?.length ?? 0), '2');
        process.kill(pid, 'SIGTERM');
      },
    });
    expect(run).toMatchObject({ code: 0, signal: null, stdout: `${appPid}\n` });
    expect(run.stderr.match(/^uv-drain why — .* on SIGUSR2/gm)).toHaveLength(2);
  });

  it('prints nothing for a program that exits by itself, and passes its stdin through', async () => {
    const run = await cli(['why', '--', 'node', '-e', 'process.stdin.pipe(process.stdout)'], { input: 'through\n' });
    expect(run).toEqual({ code: 0, signal: null, stdout: 'through\n', stderr: '' });
  });

  it('--out appends reports to a file; stderr stays the program’s', async () => {
    const app = program('out.js', "setTimeout(() => console.error('app error line'), 400);\n");
    const out = path.join(dir, 'report.txt');
    const run = await cli(['why', '--after', '100', '--idle', '0', '--out', out, '--', app]);
    expect(run).toEqual({ code: 0, signal: null, stdout: '', stderr: 'app error line\n' });
    const text = fs.readFileSync(out, 'utf8');
    expect(text).toContain('uv-drain why');
    expect(text).toMatch(/Timeout timeout:\d+ ref after 400 ms/);
  });

  it('reaches the first Node.js process of a program that is not node (NODE_OPTIONS), and not that process’s children', async () => {
    const source = `
const { execFileSync } = require('node:child_process');
const env = execFileSync(process.execPath, ['-p', 'JSON.stringify([process.env.NODE_OPTIONS ?? null, process.env.UV_DRAIN_CLI ?? null])']);
process.stdout.write(env);
setTimeout(() => {}, 500);
`;
    const app = program('shell.js', source);
    const run = await cli(['why', '--after', '100', '--idle', '0', '--', 'sh', '-c', `exec '${process.execPath}' '${app}'`]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual([process.env.NODE_OPTIONS ?? null, null]);
    expect(run.stderr).toContain('uv-drain why');
    expect(run.stderr).toContain(siteOf('shell.js', source, 'setTimeout('));
  });

  it.skipIf(!HAS_SCRIPT)('on a terminal: colours and a compact table', async () => {
    const app = program('tty.js', HOLDER.replace(`${HOLD_MS}`, '600'));
    const command = `'${process.execPath}' '${CLI}' why --after 200 --idle 0 -- node '${app}'`;
    const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.resume();
    await once(child, 'exit');
    child.stdin.end();
    expect(out).toContain('\u001b[1muv-drain why\u001b[22m');
    expect(out).toMatch(/TYPE +STATE +FD +ID +CREATED AT/);
    expect(out).toMatch(/tcp\u001b\[22m +active ref +\d+ +0x[0-9a-f]{16} +tty\.js:\d+:\d+/);
    expect(out).toMatch(/Timeout\u001b\[22m +ref every 10000 ms heartbeat\(\)/);
  });
});

describe('uv-drain snapshot', () => {
  it('--json: one JSON document per report with every handle (Node’s own marked) and every pending JS timer', async () => {
    const app = program('snap.js', HOLDER.replace(`${HOLD_MS}`, '500'));
    const run = await cli(['snapshot', '--json', '--after', '200', '--idle', '0', '--', 'node', app]);
    expect(run).toMatchObject({ code: 7, stdout: 'ready\nbye\n' });
    const lines = run.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    const report = JSON.parse(lines[0]) as ProcessReport;
    expect(report).toMatchObject({ version: 1, kind: 'snapshot', reason: 'after', tracking: true, requests: expect.any(Number) });
    expect(report.loop.alive).toBe(true);
    const tcp = report.handles.filter((h) => h.type === 'tcp');
    expect(tcp.map((h) => h.owner).sort()).toEqual([null, 'plugin-a'].sort());
    expect(tcp.every((h) => h.holds && h.origin === null && h.stack?.includes('snap.js'))).toBe(true);
    expect(report.handles.some((h) => h.origin === 'startup')).toBe(true);
    expect(report.timers).toEqual(
      expect.arrayContaining([expect.objectContaining({ type: 'Timeout', repeatMs: 10_000, callback: 'heartbeat', ref: true })]),
    );
  });

  it('--no-stacks: no tracking in the program, handles without stacks', async () => {
    const app = program('nostacks.js', HOLDER.replace(`${HOLD_MS}`, '400'));
    const run = await cli(['snapshot', '--json', '--no-stacks', '--after', '150', '--idle', '0', '--', 'node', app]);
    const report = JSON.parse(run.stderr.trim()) as ProcessReport;
    expect(report.tracking).toBe(false);
    expect(report.handles.every((h) => h.stack === null)).toBe(true);
    expect(report.timers).toEqual([]);
  });
});

describe('usage', () => {
  /** `--after <ms>`-style spellings of every option, from the option table. */
  const flags = Object.entries(OPTIONS).map(([name, spec]) => `--${name}${'value' in spec ? ` ${spec.value}` : ''}`);

  it('--help, -h and no arguments: the general help, with every command, every flag, the report triggers and the exit codes', async () => {
    expect(flags.length).toBeGreaterThanOrEqual(8);
    const runs = await Promise.all([cli(['--help']), cli(['-h']), cli([])]);
    for (const run of runs) expect(run).toEqual({ code: EXIT.help, signal: null, stdout: runs[0].stdout, stderr: '' });
    const text = runs[0].stdout;
    expect(text).toMatch(/^Usage: uv-drain <command>/);
    for (const flag of [...flags, '-h, --help']) expect(text).toContain(flag);
    for (const word of ['why', 'snapshot', 'SIGUSR2', 'NODE_OPTIONS', 'everything after -- is passed to it untouched']) {
      expect(text).toContain(word);
    }
    expectExitStatus(text);
  });

  for (const kind of ['why', 'snapshot']) {
    it(`${kind} --help: that command's help, with every flag and the exit codes; the program is not run`, async () => {
      const marker = path.join(dir, `ran-${kind}`);
      const app = program(`help-${kind}.js`, `require('node:fs').writeFileSync(${JSON.stringify(marker)}, '');\n`);
      const run = await cli([kind, '--idle', '0', '--help', '--', 'node', app]);
      expect(run).toMatchObject({ code: EXIT.help, signal: null, stderr: '' });
      expect(run.stdout).toMatch(new RegExp(`^Usage: uv-drain ${kind} \\[options\\]`));
      for (const flag of flags) expect(run.stdout).toContain(flag);
      expectExitStatus(run.stdout);
      expect(fs.existsSync(marker)).toBe(false);
      expect((await cli([kind, '-h'])).stdout).toBe(run.stdout);
    });
  }

  /** The exit status section lists every code of the table, and the usage code is 2. */
  function expectExitStatus(text: string): void {
    const section = text.slice(text.indexOf('\nExit status:\n'));
    expect(section).not.toBe(text);
    for (const [status] of EXIT_STATUS) expect(section).toMatch(new RegExp(`^  ${status} `, 'm'));
    expect(EXIT).toEqual({ help: 0, usage: 2, cannotRun: 127 });
    expect(section).toMatch(/^ {2}2 +Usage error/m);
    expect(section).toContain('128+N');
  }

  it('usage errors: one line on stderr naming the culprit, exit code 2, the program not run', async () => {
    const marker = path.join(dir, 'ran');
    const app = program('marker.js', `require('node:fs').writeFileSync(${JSON.stringify(marker)}, '');\n`);
    const cases: [string[], string][] = [
      [['what'], 'unknown command "what", expected why or snapshot (see uv-drain --help)'],
      [['--json', 'why', '--', 'node', app], 'expected a command (why or snapshot) before --json (see uv-drain --help)'],
      [['why', '--foo', '--', 'node', app], 'unknown option --foo (see uv-drain why --help)'],
      [['why', '--nope', '--', 'node'], 'unknown option --nope (see uv-drain why --help)'],
      [['snapshot', '-x', 'node', app], 'unknown option -x (see uv-drain snapshot --help)'],
      [['why', '--no-json', 'node', app], 'unknown option --no-json'],
      [['why', '--after'], '--after needs a value: --after <ms>'],
      [['snapshot', '--out'], '--out needs a value: --out <path> (see uv-drain snapshot --help)'],
      [['why', '--idle='], '--idle needs a value'],
      [['why', '--after', 'soon', '--', 'node', app], '--after expects milliseconds, a whole number from 0 to 2147483647, got "soon"'],
      [['why', '--idle', '-1', '--', 'node', app], '--idle expects milliseconds, a whole number from 0 to 2147483647, got "-1"'],
      [['why', '--after=1.5', 'node', app], '--after expects milliseconds'],
      [['why', '--after', '2147483648', 'node', app], 'got "2147483648"'],
      [['why', '--json=yes', 'node', app], '--json takes no value'],
      [['why', '--'], 'no program given: put it after -- (see uv-drain why --help)'],
      [['why', '--json'], 'no program given'],
      [['why', '--out', path.join(dir, 'no-such-dir', 'out.txt'), 'node', app], 'cannot open --out'],
    ];
    for (const [args, message] of cases) {
      const run = await cli(args);
      expect(run, args.join(' ')).toMatchObject({ code: EXIT.usage, signal: null, stdout: '' });
      expect(run.stderr, args.join(' ')).toMatch(/^uv-drain: [^\n]*\(see uv-drain (why |snapshot )?--help\)\n$/);
      expect(run.stderr, args.join(' ')).toContain(message);
    }
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('everything after -- goes to the program untouched, flags like uv-drain’s included; without --, the program starts at its first word', async () => {
    const app = program('argv.js', 'console.log(JSON.stringify(process.argv.slice(2)));\n');
    const args = ['--json', '--after', 'soon', '--foo', '-h', '--help', '--', '--no-color', ''];
    const run = await cli(['why', '--idle', '0', '--', 'node', app, ...args]);
    expect(run).toEqual({ code: 0, signal: null, stdout: JSON.stringify(args) + '\n', stderr: '' });
    const bare = await cli(['why', '--idle', '0', app, ...args]);
    expect(bare).toEqual(run);
  });

  it('exits 127 when the program cannot be run', async () => {
    const run = await cli(['why', '--', path.join(dir, 'no-such-program')]);
    expect(run.code).toBe(EXIT.cannotRun);
    expect(run.stderr).toContain('cannot run');
  });
});
