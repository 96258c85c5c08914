#!/usr/bin/env node
// The uv-drain command: runs a program with uv-drain's preload and prints
// what holds its loop. The program keeps its own stdin, stdout, stderr and
// exit status; reports arrive on an extra pipe (fd 3 of the program).
import { spawn } from 'node:child_process';
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');

import { EXIT, help, parseCommandLine, UsageError, type Args } from './args';
import { formatReport } from './format';
import { ENV_CONFIG, type PreloadConfig } from './preload-config';
import type { ProcessReport } from './report';

const PRELOAD = path.join(__dirname, 'preload.js');
/** The program's fd that carries reports to this process. */
const REPORT_FD = 3;

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

function openOut(file: string, kind: Args['kind']): number {
  try {
    return fs.openSync(file, 'a');
  } catch (error) {
    throw new UsageError(`cannot open --out ${file}: ${(error as Error).message}`, kind);
  }
}

function useColor(args: Args): boolean {
  if (args.color !== undefined) return args.color;
  if (args.out !== undefined || args.json) return false;
  return process.stderr.isTTY === true && process.env.NO_COLOR === undefined;
}

/**
 * What to run and where reports go (an fd); undefined once help or a usage
 * error is printed, with the exit code set.
 */
function start(argv: string[]): { args: Args; output: number } | undefined {
  try {
    const args = parseCommandLine(argv);
    if ('help' in args) {
      process.stdout.write(help(args.help));
      process.exitCode = EXIT.help;
      return undefined;
    }
    return { args, output: args.out === undefined ? 2 : openOut(args.out, args.kind) };
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`uv-drain: ${error.message}\n`);
    process.exitCode = EXIT.usage;
    return undefined;
  }
}

function main(argv: string[]): void {
  const started = start(argv);
  if (started === undefined) return;
  const { args, output } = started;
  const tty = useColor(args);
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
    process.exit(EXIT.cannotRun);
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
