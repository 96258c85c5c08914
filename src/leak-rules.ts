// Leak checks, the built-in rules: what is never a test's leak (Node's own
// handles, the test runner's and Node's shared machinery's, a library's
// singleton timer) and the user's ignore options.
import { NODE_BINARY } from './accounting';
import { isRunnerMade, isSharedMade, librarySite } from './provenance';
import type { Capture } from './stacks';
import { isStdioHandle } from './stdio';
import { keyOfId } from './records';
import { hasRef, isDone } from './timers';
import type { Leak, LeakedHandle, Resolved } from './leaks';

export function isIgnored(opts: Resolved, leak: Leak, capture: Capture | undefined): boolean {
  if (leak.kind === 'handle' && isNodesOwn(leak)) return true;
  if (capture !== undefined && (isRunnerMade(capture) || isSharedMade(capture))) return true;
  if (opts.ignoreTypes.has(leak.type)) return true;
  if (leak.module !== null) {
    for (const m of opts.ignoreModules) {
      if (typeof m === 'string' ? m === leak.module : m.test(leak.module)) return true;
    }
  }
  return opts.ignore?.(leak) === true;
}

// A library's process-wide singleton (the npm undici's once-a-second clock
// tick): an unref'd JS timer made by a package's code (librarySite: its
// innermost frame that is not Node's lies under node_modules), and the only
// one alive from that creation site. It keeps no process alive and is made
// once, by whichever test used the library first, so it is no test's leak.
// A second one alive from the same site is not a singleton: it is reported.
const singletonBySite = new Map<string, WeakRef<object>>();
export function isLibrarySingleton(timer: object, capture: Capture): boolean {
  if (hasRef(timer)) return false;
  const site = librarySite(capture);
  if (site === null) return false;
  const known = singletonBySite.get(site)?.deref();
  if (known !== undefined && known !== timer && !isDone(known)) return false;
  singletonBySite.set(site, new WeakRef(timer));
  return true;
}

/**
 * Handles Node makes for itself, not for the code that happened to run:
 * - process.stdin/stdout/stderr (and a TTY's SIGWINCH handle), made lazily
 *   on first access and kept for the process's life;
 * - uv timers and polls whose callbacks are Node's: its DNS resolvers'
 *   (c-ares) sockets and timer, which go with the resolver, and its
 *   platform's delayed-task timers. No JS API makes a uv timer or poll of its
 *   own (JS timers share one timer made at startup).
 */
export function isNodesOwn(h: LeakedHandle): boolean {
  if (isStdioHandle(keyOfId(h.id), h.type)) return true;
  if (h.fd !== null && h.fd <= 2 && (h.type === 'tty' || h.type === 'pipe' || h.type === 'tcp')) return true;
  return (h.type === 'timer' || h.type === 'poll') && h.module === NODE_BINARY;
}
