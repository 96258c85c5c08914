// Stack text: a capture's creation stack as a report shows it. Formatted the
// way V8 does without a runner's Error.prepareStackTrace (cheap, keeps no
// frame), source-mapped through the runner's only for a stack a report shows,
// and trimmed to the user's frames (Node's, the runner's and uv-drain's own
// are left out; a library's run of frames is cut to two).
import path = require('node:path');

import { SavedCallSite } from './saved-call-site';
import type { Capture } from './stacks';

/** Frames shown after trimming. */
export const SHOWN_FRAMES = 8;

/** An Error's stack as V8 formats it without Error.prepareStackTrace: no source maps (cheap), no frame kept. */
export function plainStack(error: Error): string {
  const prepare = Error.prepareStackTrace;
  if (prepare === undefined) return error.stack ?? '';
  (Error as { prepareStackTrace?: unknown }).prepareStackTrace = undefined;
  try {
    return error.stack ?? '';
  } finally {
    Error.prepareStackTrace = prepare;
  }
}

/**
 * A plain stack put through the Error.prepareStackTrace installed now (a
 * test runner's source maps: the lines of the test's own source), or as is.
 */
export function mapStack(stack: string): string {
  const prepare = Error.prepareStackTrace;
  if (typeof prepare !== 'function') return stack;
  const sites: NodeJS.CallSite[] = [];
  for (const line of stack.split('\n')) {
    const site = SavedCallSite.parse(line);
    if (site !== null) sites.push(site as unknown as NodeJS.CallSite);
  }
  try {
    const mapped: unknown = prepare(new Error('created'), sites);
    return typeof mapped === 'string' ? mapped : stack;
  } catch {
    return stack;
  }
}

/** The creation stack of a capture as V8 formats it, '' when none was captured. */
export function rawStack(capture: Capture): string {
  return capture.error === null ? '' : plainStack(capture.error);
}

const TRIGGER_NAMES: Record<string, string> = {
  TCPSERVERWRAP: 'TCP server',
  TCPWRAP: 'TCP socket',
  PIPESERVERWRAP: 'pipe server',
  GETADDRINFOREQWRAP: 'DNS lookup',
};

/**
 * The creation stack of a capture, trimmed to user frames. A birth with no
 * user frame of its own (a connection accepted in a libuv callback) shows
 * where the resource that triggered it was made.
 */
export function stackOf(capture: Capture | undefined, frames = SHOWN_FRAMES): string | null {
  if (capture === undefined || capture.error === null) return null;
  const shown = (error: Error | null) => (error === null ? '' : trimStack(mapStack(plainStack(error)), frames));
  const own = shown(capture.error);
  if (own !== '') return own;
  const origin = shown(capture.origin);
  if (origin !== '') return `    (born when Node continued the call made at:)\n${origin}`;
  // The nearest trigger with a stack of its own: a connection's server, or
  // the DNS lookup a server listening on a host name was born after.
  const via: string[] = [];
  for (let trigger = capture.trigger; trigger !== undefined && via.length < 4; trigger = trigger.trigger) {
    via.push(TRIGGER_NAMES[trigger.asyncType] ?? trigger.asyncType);
    let stack = shown(trigger.error);
    if (stack === '') stack = shown(trigger.origin);
    if (stack !== '') return `    (born in a callback of a ${via.join(' ← a ')} made at:)\n${stack}`;
  }
  return '    (born in a callback from Node or libuv: no user frame)';
}

const PACKAGE_ROOT = path.resolve(__dirname, '..');
export const OWN_DIRS = [path.join(PACKAGE_ROOT, 'dist') + path.sep, path.join(PACKAGE_ROOT, 'src') + path.sep];
export const RUNNER_PARTS = [
  `${path.sep}node_modules${path.sep}vitest${path.sep}`,
  `${path.sep}node_modules${path.sep}@vitest${path.sep}`,
  `${path.sep}node_modules${path.sep}vite${path.sep}`,
  `${path.sep}node_modules${path.sep}tinypool${path.sep}`,
];

export const NODE_MODULES = `${path.sep}node_modules${path.sep}`;

/** Whether a formatted stack frame is Node's, a test runner's or uv-drain's own. */
export function isInternalFrame(line: string): boolean {
  if (line.includes('node:') && /[( ]node:/.test(line)) return true;
  if (line.includes('(<anonymous>)') || line.trim() === 'at <anonymous>') return true;
  for (const dir of OWN_DIRS) if (line.includes(dir) || line.includes('file://' + dir)) return true;
  for (const part of RUNNER_PARTS) if (line.includes(part)) return true;
  return false;
}

/**
 * The `at ...` lines of a formatted stack that are user frames, at most
 * `frames` of them. A run of frames inside one package under node_modules
 * keeps its two innermost and says how many it skipped, so that the
 * project's own frames past a library's stay in view.
 */
export function trimStack(stack: string, frames = SHOWN_FRAMES): string {
  const kept: string[] = [];
  let pkg: string | null = null;
  let inPackage = 0;
  const skip = () => {
    if (inPackage > 2) kept.push(`    … ${inPackage - 2} more frame${inPackage === 3 ? '' : 's'} in ${pkg}`);
    inPackage = 0;
  };
  for (const line of stack.split('\n')) {
    if (!/^\s+at /.test(line)) continue;
    if (isInternalFrame(line)) continue;
    const here = packageOf(line);
    if (here === null || here !== pkg) skip();
    pkg = here;
    if (here !== null && ++inPackage > 2) continue;
    kept.push('    ' + line.trim());
    if (kept.length >= frames) break;
  }
  if (kept.length < frames) skip();
  return kept.join('\n');
}

/** The package a frame's file lies in under node_modules (`undici`, `@scope/name`), or null. */
function packageOf(line: string): string | null {
  const at = line.lastIndexOf(NODE_MODULES);
  if (at < 0) return null;
  const rest = line.slice(at + NODE_MODULES.length).split(/[\\/]/);
  return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
}
