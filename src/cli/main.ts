#!/usr/bin/env node
// The uv-drain command: runs a program with uv-drain's preload and prints
// what holds its loop. The program keeps its own stdin, stdout, stderr and
// exit status; reports arrive on an extra pipe (fd 3 of the program).
import { spawn } from 'node:child_process';
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');

import { formatReport } from './format';
import { ENV_CONFIG, type PreloadConfig } from './preload-config';
import type { ProcessReport } from './report';

const PRELOAD = path.join(__dirname, 'preload.js');
/** The program's fd that carries reports to this process. */
const REPORT_FD = 3;
const DEFAULT_IDLE_MS = 1000;

export const HELP = `Usage: uv-drain <command> [options] -- <program> [args...]

Runs <program> with uv-drain preloaded (creation stacks tracked from the
start) and prints what is on its libuv loop. The program's stdin, stdout,
stderr and exit status are its own; reports go to this command's stderr
(or --out) and never to the program's stdout.

Commands:
  why                What holds the loop open: active referenced handles,
                     closing handles and referenced JS timers, grouped by
                     owner and module, with type, state and creation stack.
  snapshot           Every handle on the loop and every pending JS timer.

A report is printed:
  - each time the program receives SIGUSR2 (sent to it or to uv-drain),
  - once, --after <ms> after start,
  - when the program idles for --idle <ms> while something holds it open:
    it would not exit by itself.

Options:
  --after <ms>       Report once, <ms> milliseconds after start.
  --idle <ms>        Idle time before a "would not exit" report (default ${DEFAULT_IDLE_MS});
                     0 turns it off.
  --json             One JSON document per report (machine readable), one per line.
  --out <path>       Append reports to <path> instead of writing them to stderr.
  --color            Colours and a compact table even when not on a terminal.
  --no-color         Plain text even on a terminal (NO_COLOR=1 does the same).
  --no-stacks        No creation tracking (no async_hooks in the program): no
                     stacks, JS timers not listed.
  -h, --help         Show this help.

If <program> is node (or a .js/.mjs/.cjs file, run with this node), the
preload is passed with --require; any other program gets it through
NODE_OPTIONS and it takes effect in the first Node.js process it starts.

Examples:
  uv-drain why -- node server.js
  uv-drain why --after 5000 --out why.txt -- node test/run.js
  uv-drain snapshot --json --after 1000 -- node app.mjs > app-output.txt
  kill -USR2 <pid of uv-drain or of the program>
`;

interface Args {
  kind: 'why' | 'snapshot';
  afterMs?: number;
  idleMs: number;
  json: boolean;
  out?: string;
  color?: boolean;
  tracking: boolean;
  command: string[];
}

class UsageError extends Error {}

function parseArgs(argv: string[]): Args | 'help' {
  if (argv.length === 0 || argv[0] === '-h' || argv[0] === '--help') return 'help';
  const kind = argv[0];
  if (kind !== 'why' && kind !== 'snapshot') throw new UsageError(`unknown command "${kind}" (expected why or snapshot)`);
  const args: Args = { kind, idleMs: DEFAULT_IDLE_MS, json: false, tracking: true, command: [] };
  let i = 1;
  const value = (flag: string): string => {
    const v = argv[++i];
    if (v === undefined) throw new UsageError(`${flag} needs a value`);
    return v;
  };
  const ms = (flag: string): number => {
    const v = value(flag);
    const n = Number(v);
    if (!/^\d+$/.test(v) || n > 2 ** 31 - 1) throw new UsageError(`${flag} expects milliseconds (0 to ${2 ** 31 - 1}), got "${v}"`);
    return n;
  };
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      i++;
      break;
    }
    if (!arg.startsWith('-')) break;
    switch (arg) {
      case '-h':
      case '--help':
        return 'help';
      case '--after':
        args.afterMs = ms(arg);
        break;
      case '--idle':
        args.idleMs = ms(arg);
        break;
      case '--json':
        args.json = true;
        break;
      case '--out':
        args.out = value(arg);
        break;
      case '--color':
        args.color = true;
        break;
      case '--no-color':
        args.color = false;
        break;
      case '--no-stacks':
        args.tracking = false;
        break;
      default:
        throw new UsageError(`unknown option "${arg}"`);
    }
  }
  args.command = argv.slice(i);
  if (args.command.length === 0) throw new UsageError('no program given (put it after --)');
  return args;
}

/** The program's argv and environment, with the preload in. */
function programOf(args: Args): { file: string; argv: string[]; env: NodeJS.ProcessEnv } {
  const config: PreloadConfig = {
    kind: args.kind,
    fd: REPORT_FD,
    afterMs: args.afterMs,
    idleMs: args.idleMs,
    tracking: args.tracking,
  };
  const env: NodeJS.ProcessEnv = { ...process.env, [ENV_CONFIG]: JSON.stringify(config) };
  let [file, ...rest] = args.command;
  if (/\.[cm]?js$/.test(file)) {
    rest = [file, ...rest];
    file = process.execPath;
  }
  if (file === process.execPath || /^node(js)?$/.test(path.basename(file))) {
    return { file, argv: ['--require', PRELOAD, ...rest], env };
  }
  env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --require ${JSON.stringify(PRELOAD)}`.trim();
  return { file, argv: rest, env };
}

function useColor(args: Args): boolean {
  if (args.color !== undefined) return args.color;
  if (args.out !== undefined || args.json) return false;
  return process.stderr.isTTY === true && process.env.NO_COLOR === undefined;
}

function main(argv: string[]): void {
  let args: Args | 'help';
  try {
    args = parseArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`uv-drain: ${error.message}\nRun "uv-drain --help" for usage.\n`);
    process.exitCode = 2;
    return;
  }
  if (args === 'help') {
    process.stdout.write(HELP);
    return;
  }
  const tty = useColor(args);
  const output = args.out === undefined ? 2 : fs.openSync(args.out, 'a');
  const { file, argv: programArgv, env } = programOf(args);
  const stdio: ('inherit' | 'pipe')[] = ['inherit', 'inherit', 'inherit', 'pipe'];
  const child = spawn(file, programArgv, { stdio, env });

  const print = (report: ProcessReport) => {
    const text = args.json ? JSON.stringify(report) + '\n' : formatReport(report, { tty }) + '\n';
    fs.writeSync(output, text);
  };
  let buffered = '';
  const reports = child.stdio[REPORT_FD] as NodeJS.ReadableStream;
  reports.setEncoding('utf8');
  reports.on('data', (chunk: string) => {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line.trim() === '') continue;
      try {
        print(JSON.parse(line) as ProcessReport);
      } catch {
        fs.writeSync(output, line + '\n');
      }
    }
  });

  // The terminal sends SIGINT/SIGQUIT/SIGHUP to the whole process group: the
  // program gets its own, and uv-drain waits for it to decide. Signals sent
  // to uv-drain alone are passed on.
  for (const signal of ['SIGINT', 'SIGQUIT', 'SIGHUP'] as const) process.on(signal, () => {});
  for (const signal of ['SIGTERM', 'SIGUSR1', 'SIGUSR2'] as const) {
    process.on(signal, () => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    });
  }

  child.on('error', (error) => {
    process.stderr.write(`uv-drain: cannot run ${file}: ${error.message}\n`);
    process.exit(127);
  });
  child.on('exit', (code, signal) => {
    // Reports written before the exit are in the pipe; a grandchild that
    // inherited the pipe may keep it open, so stop reading soon regardless.
    const finish = () => {
      reports.removeAllListeners('data');
      (reports as unknown as { destroy(): void }).destroy();
      if (args.out !== undefined) fs.closeSync(output);
      exitLike(code, signal);
    };
    const timer = setTimeout(finish, 200);
    reports.once('end', () => {
      clearTimeout(timer);
      setImmediate(finish);
    });
  });
}

/** Ends this process the way the program ended: same exit code, or same signal. */
function exitLike(code: number | null, signal: NodeJS.Signals | null): void {
  if (signal !== null) {
    for (const s of ['SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGTERM', 'SIGUSR1', 'SIGUSR2'] as const) process.removeAllListeners(s);
    process.kill(process.pid, signal);
    // In case the signal's default action does not end a process.
    setTimeout(() => process.exit(128 + (os.constants.signals[signal] ?? 0)), 1000).unref();
    return;
  }
  process.exit(code ?? 0);
}

if (require.main === module) main(process.argv.slice(2));
