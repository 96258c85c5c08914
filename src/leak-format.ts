// Leak checks, the text: a LeakReport as lines a person reads.
import { colours } from './colours';
import { handlesAndTimers, handleState, timerTiming } from './text';
import { checkBoolean, checkObject, describe } from './validate';
import type { Leak, LeakReport } from './leaks';

export interface FormatOptions {
  /** ANSI colours (default false). */
  color?: boolean;
  /** First line; default: a summary of the report. */
  title?: string;
}

/** The report as text: one block per leak with its state, owner, module and creation stack. */
export function formatLeakReport(report: LeakReport, options: FormatOptions = {}): string {
  checkObject(report, 'report');
  if (!Array.isArray(report.leaks) || typeof report.ok !== 'boolean') {
    throw new TypeError('The "report" argument must be a LeakReport (with "ok" and a "leaks" array)');
  }
  checkObject(options, 'options');
  if (options.title !== undefined && typeof options.title !== 'string') {
    throw new TypeError(`The "title" option must be a string, received ${describe(options.title)}`);
  }
  if (options.color !== undefined) checkBoolean(options.color, 'color');
  const c = colours(options.color === true);
  const lines: string[] = [options.title ?? summary(report)];
  // Leaks alike but for their id and fd (same type, state, owner, module and
  // creation stack: a loop that made 50 workers) are one entry.
  const groups = new Map<string, Leak[]>();
  // Addresses and pids differ within a group: the entry names the kind.
  const alike = (leak: Leak): Leak =>
    leak.kind === 'handle'
      ? { ...leak, fd: null, resource: leak.resource?.replace(/ (?:pid \d+.*|[\d[:].*)$/, '') ?? null }
      : leak;
  for (const leak of report.leaks) {
    const key = `${leak.type}\u0000${describeLeak(alike(leak))}\u0000${leak.stack ?? ''}`;
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [leak]);
    else group.push(leak);
  }
  let shown = 0;
  for (const group of groups.values()) {
    if (shown === MAX_ENTRIES) break;
    shown++;
    const leak = group[0];
    lines.push('');
    if (group.length === 1) lines.push('  ' + c.bold(leak.type) + ' ' + c.dim(leak.id) + '  ' + describeLeak(leak));
    else {
      // One resource's handles (a Worker's ports) keep its name; many resources' the kind.
      const same = group.every((other) => other.kind === 'handle' && leak.kind === 'handle' && other.resource === leak.resource);
      lines.push(`  ${group.length} × ` + c.bold(leak.type) + '  ' + describeLeak(same ? { ...leak, fd: null } : alike(leak)));
    }
    if (leak.stack !== null) lines.push(c.dim(leak.stack));
    else if (!report.tracking) lines.push(c.dim('    (no creation stack: tracking is off)'));
  }
  if (groups.size > shown) {
    const rest = [...groups.values()].slice(shown).reduce((n, g) => n + g.length, 0);
    lines.push('', `  … and ${rest} more (the full list is the report's \`leaks\`)`);
  }
  return lines.join('\n');
}

/** Entries (groups of alike leaks) a formatted report shows before "and N more". */
const MAX_ENTRIES = 20;

function summary(report: LeakReport): string {
  if (report.ok) return 'uv-drain: nothing leaked';
  return `uv-drain: ${leakCount(report)} born since the check began still alive after ${Math.round(report.waitedMs)} ms:`;
}

/** "2 handles and 1 JS timer": what a report lists. */
export function leakCount(report: LeakReport): string {
  const handles = report.leaks.filter((l) => l.kind === 'handle').length;
  return handlesAndTimers(handles, report.leaks.length - handles);
}

/** State, owner and module of a leak on one line. */
export function describeLeak(leak: Leak): string {
  const parts = [handleState(leak)];
  if (leak.kind === 'timer') {
    const timing = timerTiming(leak);
    if (timing !== null) parts.push(timing);
    if (leak.callback !== null) parts.push(`callback ${leak.callback}()`);
  }
  if (leak.fd !== null) parts.push(`fd ${leak.fd}`);
  parts.push(`owner ${leak.owner ?? '-'}`);
  if (leak.module !== null) parts.push(`module ${leak.module}`);
  const what = leak.kind === 'handle' ? leak.resource ?? null : null;
  return what === null ? parts.join(', ') : `${parts.join(', ')} — ${what}`;
}
