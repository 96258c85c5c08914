// What a failed check says: its title, the report as text with paths
// relative to the project, and the LeakError Vitest shows.
import path = require('node:path');

import { LeakError } from '../errors';
import { formatLeakReport, leakCount, type Leak, type LeakReport } from '../leaks';

export interface Failure {
  text: string;
  report: LeakReport;
}

/**
 * The failure a report makes, or null when nothing failed: with strict 'ref'
 * and nothing that holds the process, the report is printed as a warning.
 */
export function failureOf(report: LeakReport, subject: string, when: string, strict: 'all' | 'ref' | undefined): Failure | null {
  if (report.ok) return null;
  const waited = `(waited ${Math.round(report.waitedMs)} ms)`;
  const title = `uv-drain: ${subject} ${leakCount(report)} alive ${when === '' ? '' : when + ' '}${waited}:`;
  const text = relativeStacks(formatLeakReport(report, { title }));
  if (strict === 'ref' && !report.leaks.some(holdsProcess)) {
    console.warn(text.replace(/^uv-drain:/, 'uv-drain (warning, strict: ref):'));
    return null;
  }
  return { text, report };
}

/** What keeps the process alive: an active referenced handle that is not closing, or a referenced JS timer. */
function holdsProcess(leak: Leak): boolean {
  return leak.kind === 'timer' ? leak.ref : leak.active && leak.ref && !leak.closing;
}

/** One error for a scope's failures (a file's collection and its hooks: one report, both lists). */
export function leakError(failures: Failure[]): LeakError {
  const text = failures.map((f) => f.text).join('\n\n');
  const reports = failures.map((f) => f.report);
  const report: LeakReport =
    reports.length === 1
      ? reports[0]
      : {
          ok: false,
          leaks: reports.flatMap((r) => r.leaks),
          ignored: reports.reduce((n, r) => n + r.ignored, 0),
          waitedMs: Math.max(...reports.map((r) => r.waitedMs)),
          iterations: Math.max(...reports.map((r) => r.iterations)),
          tracking: reports.every((r) => r.tracking),
        };
  const error = new LeakError(text, report);
  // The report is the message: frames of uv-drain's hook, or the report
  // object printed again by Vitest, would only add noise.
  error.stack = `${error.name}: ${text}`;
  Object.defineProperty(error, 'report', { enumerable: false });
  return error;
}


/** A path relative to the working directory when it lies inside it. */
export function relative(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel.startsWith('..') ? file : rel;
}

export function relativeStacks(text: string): string {
  const prefix = process.cwd() + path.sep;
  return text.split(prefix).join('').split('file://').join('');
}
