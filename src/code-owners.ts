// Attribution by code: whose code asked for a resource being born.
//
// A listener, request handler or job callback that a host invokes runs in
// the host's async context, so the async context alone gives what plugin
// code makes there to nobody. The code on the stack does not lie: the
// innermost frame that lies inside a loaded module's code decides. Roots are
// registered by the unload coordinator (a file module's directory or
// package root, an object module's `root`/`files`); a file claimed by two
// modules (one file loaded twice) decides nothing, and the async context
// does.
//
// Node's own machinery is recognised from the frames too: everything that
// fetch's built-in dispatcher does (its pooled sockets, its timers) serves
// the whole process; and a JS timer that Node makes two or more calls deep
// inside one of its APIs (the http Date-header cache behind writeHead)
// serves Node, not the code that called the API. A timer the module's code
// asked for through a timer API, or that an API it called made directly
// (socket.setTimeout, AbortSignal.timeout), stays the module's.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The verdict of the stack: an owner, NODE (Node's own, nobody's), or undefined (the code cannot tell). */
export const NODE = Symbol('uv-drain:node');

interface Root<T> {
  /** Absolute directory with a trailing separator, or an absolute file. */
  prefix: string;
  isFile: boolean;
  owner: T;
}

const AMBIGUOUS = Symbol('uv-drain:ambiguous');

let roots: Root<unknown>[] = [];
/** File name as V8 reports it -> the owner whose code it is (null: nobody's; AMBIGUOUS). */
const byFile = new Map<string, unknown>();

/** Whether any code root is registered (stacks are only looked at then). */
export function hasCodeRoots(): boolean {
  return roots.length > 0;
}

/**
 * Declares `entries` (absolute directories or files) `owner`'s code until
 * the returned function is called.
 */
export function addCodeRoots<T>(owner: T, entries: { dirs: string[]; files: string[] }): () => void {
  const added: Root<unknown>[] = [
    ...entries.dirs.map((dir) => ({ prefix: withSep(path.resolve(dir)), isFile: false, owner })),
    ...entries.files.map((file) => ({ prefix: path.resolve(file), isFile: true, owner })),
  ];
  roots = [...roots, ...added];
  byFile.clear();
  return () => {
    roots = roots.filter((r) => !added.includes(r));
    byFile.clear();
  };
}

function withSep(dir: string): string {
  return dir.endsWith(path.sep) ? dir : dir + path.sep;
}

/** The owner whose code `file` (a V8 script name) is: null for nobody's, AMBIGUOUS for several. */
function ownerOfFile(file: string): unknown {
  const known = byFile.get(file);
  if (known !== undefined || byFile.has(file)) return known;
  const local = pathOfScript(file) ?? '';
  // The most specific root wins (a plugin's own package inside another's
  // node_modules); roots of the same specificity held by two owners tie.
  let best: Root<unknown> | undefined;
  let tie = false;
  for (const root of roots) {
    const inside = root.isFile ? local === root.prefix : local.startsWith(root.prefix);
    if (!inside) continue;
    const longer = best === undefined || root.prefix.length > best.prefix.length;
    if (longer) {
      best = root;
      tie = false;
    } else if (root.prefix.length === best!.prefix.length && root.owner !== best!.owner) {
      tie = true;
    }
  }
  const verdict = best === undefined ? null : tie ? AMBIGUOUS : best.owner;
  if (byFile.size > 4096) byFile.clear();
  byFile.set(file, verdict);
  return verdict;
}

// Frames of Node's timer implementation itself (between a timer API and the
// Timeout or Immediate it makes).
const TIMER_FILES = new Set(['node:timers', 'node:timers/promises', 'node:internal/timers']);
const UNDICI = 'node:internal/deps/undici/';
// Enough frames to get from a birth, through Node's own calls, to the code
// that asked: a handle can be a dozen calls deep inside Node (an agent's
// socket, a server's handle after a lookup); a timer or a request a few.
// Each frame captured costs: captures are the whole price of attribution.
const HANDLE_FRAMES = 40;
const OTHER_FRAMES = 20;

type Site = { getFileName(): string | undefined | null };

function callSites(above: (...args: never[]) => unknown, frames = HANDLE_FRAMES): Site[] {
  const prepare = Error.prepareStackTrace;
  const limit = Error.stackTraceLimit;
  const holder: { stack?: unknown } = {};
  try {
    Error.prepareStackTrace = (_error, sites) => sites;
    Error.stackTraceLimit = frames;
    Error.captureStackTrace(holder, above);
    return Array.isArray(holder.stack) ? (holder.stack as Site[]) : [];
  } catch {
    return [];
  } finally {
    Error.prepareStackTrace = prepare;
    Error.stackTraceLimit = limit;
  }
}

/** The file of the innermost frame below `above` that is not Node's own (the caller of an API), if any. */
export function callerFile(above: (...args: never[]) => unknown): string | undefined {
  for (const site of callSites(above)) {
    const file = site.getFileName();
    if (typeof file !== 'string' || file === '' || file.startsWith('node:')) continue;
    return pathOfScript(file);
  }
  return undefined;
}

/** The file system path of a V8 script name: a path as is, a file: URL without its query (an ES module loaded afresh). */
function pathOfScript(file: string): string | undefined {
  if (!file.startsWith('file:')) return file;
  try {
    return fileURLToPath(file.replace(/[?#].*$/, ''));
  } catch {
    return undefined;
  }
}

/**
 * Who the code on the stack says a birth belongs to. `above`: the frame to
 * start below (uv-drain's hook). `timer`: the birth is a JS timer; `handle`:
 * a handle (looked for deeper).
 */
export function ownerByCode<T>(
  above: (...args: never[]) => unknown,
  timer: boolean,
  handle = true,
): T | typeof NODE | undefined {
  const sites = callSites(above, handle ? HANDLE_FRAMES : OTHER_FRAMES);
  return verdictOfFiles<T>(
    sites.map((site) => site.getFileName()),
    timer,
    true,
  );
}

/**
 * Whether a formatted creation stack (its `at ...` lines, uv-drain's own
 * frames left out) says Node's shared machinery made the resource: the rule
 * of ownerByCode, for what was captured without reading the stack at birth
 * (leak checks read it only for what outlives a test).
 */
export function sharedByStack(lines: readonly string[], timer: boolean): boolean {
  return verdictOfFiles(lines.map(fileOfFrame), timer, false) === NODE;
}

/** The script of one formatted stack frame (`at f (file:1:2)`, `at file:1:2`), or null. */
function fileOfFrame(line: string): string | null {
  const m = /\((.+?):\d+:\d+\)\s*$/.exec(line) ?? /^\s*at (?:async )?(.+?):\d+:\d+\s*$/.exec(line);
  return m === null ? null : m[1];
}

// Frames from the innermost outward. Node's frames inner to the first frame
// of other code are the API that code called: the resource is Node's own if
// fetch's dispatcher (bundled undici) made it, or, for a timer, if Node made
// it two or more of its own calls deep. Past that frame, the innermost
// module frame decides (`owners`: look for one).
function verdictOfFiles<T>(
  files: readonly (string | null | undefined)[],
  timer: boolean,
  owners: boolean,
): T | typeof NODE | undefined {
  let nodeCalls = 0;
  let pastApi = false;
  for (const file of files) {
    if (typeof file !== 'string' || file === '') continue;
    if (file.startsWith('node:')) {
      if (pastApi) continue;
      if (file.startsWith(UNDICI)) return NODE;
      if (timer && !TIMER_FILES.has(file) && !file.startsWith('node:internal/async_hooks')) nodeCalls++;
      continue;
    }
    if (!pastApi) {
      if (timer && nodeCalls >= 2) return NODE;
      pastApi = true;
    }
    if (!owners) return undefined;
    const owner = ownerOfFile(file);
    if (owner === null) continue;
    if (owner === AMBIGUOUS) return undefined;
    return owner as T;
  }
  return !pastApi && timer && nodeCalls >= 2 ? NODE : undefined;
}
