// Text forms of a ProcessReport: a compact coloured table for a terminal,
// plain text (full creation stacks) for a pipe or a file.
import path = require('node:path');

import { colours, type Colours } from '../colours';
import { handleState, plural, timerTiming } from '../text';
import type { HandleRow, ProcessReport, TimerRow } from './report';

export interface TextOptions {
  /** Compact table with ANSI colours (a terminal) instead of plain text. */
  tty: boolean;
}

interface Group {
  owner: string;
  /** The shared object the group's handles call back into ('JavaScript' for JS timers). */
  sharedObject: string;
  handles: HandleRow[];
  timers: TimerRow[];
}

const REASONS: Record<ProcessReport['reason'], string> = {
  signal: 'on SIGUSR2',
  after: 'after --after',
  idle: 'idle while held open: it would not exit',
};

export function formatReport(report: ProcessReport, options: TextOptions): string {
  const c = colours(options.tty);
  const lines: string[] = [];
  const what = report.kind === 'why' ? 'what holds the loop' : 'everything on the loop';
  lines.push(
    c.bold(`uv-drain ${report.kind}`) +
      ` — ${what} of pid ${report.pid} (${commandLine(report.argv)}), ${REASONS[report.reason]}, at ${report.uptimeMs} ms`,
  );
  lines.push(summary(report));
  for (const group of groups(report)) {
    lines.push('');
    lines.push(
      c.cyan(`owner ${group.owner}`) + c.dim(' · ') + c.cyan(group.sharedObject === 'JavaScript' ? 'JS timers' : `module ${group.sharedObject}`),
    );
    if (options.tty) lines.push(...table(group, c));
    else lines.push(...plain(group));
  }
  if (report.requests > 0) {
    lines.push('');
    lines.push(
      `${plural(report.requests, 'request')} in flight (fs, DNS, writes...: libuv counts them but cannot list them)`,
    );
  }
  if (!report.tracking) {
    lines.push('');
    lines.push(c.dim('(tracking off: no creation stacks, JS timers not listed)'));
  }
  return lines.join('\n') + '\n';
}

function summary(report: ProcessReport): string {
  const n = report.handles.length;
  const t = report.timers.length;
  const counts = `${plural(n, 'handle')}, ${plural(t, 'JS timer')}`;
  if (report.kind === 'snapshot') return `${counts}; the loop is ${report.loop.alive ? 'alive' : 'not alive'}`;
  if (n === 0 && t === 0 && report.requests === 0) return 'nothing holds the loop: the program can exit';
  return `${counts} hold the loop`;
}

function groups(report: ProcessReport): Group[] {
  const byKey = new Map<string, Group>();
  const get = (owner: string | null, sharedObject: string | null): Group => {
    const o = owner ?? '(none)';
    const m = sharedObject ?? '(unknown)';
    const key = `${o}\u0000${m}`;
    let group = byKey.get(key);
    if (group === undefined) {
      group = { owner: o, sharedObject: m, handles: [], timers: [] };
      byKey.set(key, group);
    }
    return group;
  };
  for (const h of report.handles) get(h.owner, h.module).handles.push(h);
  for (const t of report.timers) get(t.owner, 'JavaScript').timers.push(t);
  return [...byKey.values()];
}

function timerState(t: TimerRow): string {
  const timing = timerTiming(t);
  return timing === null ? (t.ref ? 'ref' : 'unref') : `${t.ref ? 'ref' : 'unref'} ${timing}`;
}

function note(h: HandleRow): string {
  if (h.origin === 'startup') return ' (Node’s own, from startup)';
  if (h.origin === 'uv-drain') return ' (uv-drain’s preload)';
  return '';
}

function plain(group: Group): string[] {
  const lines: string[] = [];
  for (const h of group.handles) {
    const fd = h.fd === null ? '' : `, fd ${h.fd}`;
    lines.push(`  ${h.type} ${h.id} ${handleState(h)}${fd}${note(h)}`);
    if (h.stack !== null) lines.push(h.stack.replace(/^ {4}/gm, '      '));
  }
  for (const t of group.timers) {
    const cb = t.callback === null ? '' : `, callback ${t.callback}()`;
    lines.push(`  ${t.type} ${t.id} ${timerState(t)}${cb}`);
    if (t.stack !== null) lines.push(t.stack.replace(/^ {4}/gm, '      '));
  }
  return lines;
}

function table(group: Group, c: Colours): string[] {
  const rows: string[][] = [['TYPE', 'STATE', 'FD', 'ID', 'CREATED AT']];
  for (const h of group.handles) {
    rows.push([h.type, handleState(h), h.fd === null ? '-' : String(h.fd), h.id, firstFrame(h.stack) + note(h)]);
  }
  for (const t of group.timers) {
    const cb = t.callback === null ? '' : ` ${t.callback}()`;
    rows.push([t.type, timerState(t) + cb, '-', t.id, firstFrame(t.stack)]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r, index) => {
    const text = '  ' + r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ');
    return index === 0 ? c.dim(text) : text.replace(r[0], c.bold(r[0]));
  });
}

/** The first user frame as `file:line:col (function)`, paths relative to the working directory. */
function firstFrame(stack: string | null): string {
  if (stack === null) return '-';
  const line = stack.split('\n')[0].trim();
  if (!line.startsWith('at ')) return line.replace(/^\(|\)$/g, '');
  const m = /^at (?:(.*?) \()?(.*?)\)?$/.exec(line);
  if (m === null) return line;
  const where = relativePath(m[2]);
  return m[1] === undefined ? where : `${where} (${m[1]})`;
}

function relativePath(location: string): string {
  const file = location.startsWith('file://') ? location.slice(7) : location;
  if (!path.isAbsolute(file)) return file;
  const rel = path.relative(process.cwd(), file);
  return rel.startsWith('..') ? file : rel;
}

function commandLine(argv: string[]): string {
  return argv.map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a)).join(' ');
}
