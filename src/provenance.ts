// Provenance: who made a resource, when that decides whether it can be a
// test's leak — Node's shared machinery (a global agent's pooled socket and
// the server side of it, what fetch's dispatcher makes), the test runner, or
// a package under node_modules. Each answer is read from the capture once and
// kept.
import { sharedByStack } from './code-owners';
import { addressOf } from './resource-names';
import { isInternalFrame, NODE_MODULES, OWN_DIRS, RUNNER_PARTS, rawStack } from './stack-text';
import { liveHandleCaptures, sharedSockets, type Capture } from './stacks';

const runnerMade = new WeakMap<Capture, boolean>();
const sharedMade = new WeakMap<Capture, boolean>();
const stackShared = new WeakMap<Capture, boolean>();
const sites = new WeakMap<Capture, string | null>();

// The server side of a connection a shared pool opened in this process (a
// server from beforeAll accepting the global agent's keep-alive socket) is
// the pool's too: its peer is one of the pooled sockets.
function servesSharedSocket(capture: Capture): boolean {
  if (capture.asyncType !== 'TCPWRAP') return false;
  // Sockets fetch's dispatcher opened are known by their stacks: look once.
  for (const other of liveHandleCaptures()) {
    if (other.asyncType === 'TCPWRAP' && other !== capture && !stackShared.has(other)) sharedByOwnStack(other);
  }
  if (sharedSockets.size === 0) return false;
  const peer = addressOf(capture, 'getpeername');
  if (peer === null) return false;
  for (const client of sharedSockets) {
    if (client.wrap?.deref() === undefined) sharedSockets.delete(client);
    else if (addressOf(client, 'getsockname') === peer) return true;
  }
  return false;
}

/**
 * Whether Node's shared machinery made this resource for the whole process
 * (code-owners.ts has the rule): a socket of a global agent's pool, what
 * fetch's dispatcher makes, a timer Node makes deep inside its own APIs (the
 * http Date-header cache). Read from the creation stack when first asked.
 */
export function isSharedMade(capture: Capture): boolean {
  if (capture.shared) return true;
  let known = sharedMade.get(capture);
  if (known === undefined && servesSharedSocket(capture)) {
    known = true;
    sharedMade.set(capture, known);
  }
  return known ?? sharedByOwnStack(capture);
}

/** The stack rule alone, kept once known (a connection can still turn out to serve a pooled socket). */
function sharedByOwnStack(capture: Capture): boolean {
  let known = stackShared.get(capture);
  if (known === undefined) {
    const lines = rawStack(capture)
      .split('\n')
      .filter((line) => /^\s+at /.test(line) && !OWN_DIRS.some((dir) => line.includes(dir) || line.includes('file://' + dir)));
    known = capture.error !== null && sharedByStack(lines, capture.asyncType === 'Timeout' || capture.asyncType === 'Immediate');
    stackShared.set(capture, known);
    if (known) sharedMade.set(capture, true);
    if (known && capture.asyncType === 'TCPWRAP') sharedSockets.add(capture);
  }
  return known;
}

/**
 * Whether a test runner made this resource for itself: its stack has frames
 * of the runner (Vitest's) and none of the user. Vitest's own timers (the
 * throttle of its task updates) run while tests do.
 */
export function isRunnerMade(capture: Capture): boolean {
  let known = runnerMade.get(capture);
  if (known === undefined) {
    const lines = rawStack(capture).split('\n').filter((line) => /^\s+at /.test(line));
    const runner = lines.some((line) => RUNNER_PARTS.some((part) => line.includes(part)));
    known = runner && lines.every((line) => isInternalFrame(line));
    runnerMade.set(capture, known);
  }
  return known;
}


/**
 * Where a package's code made this resource: the innermost frame that is not
 * Node's, a runner's or uv-drain's, when it lies under node_modules (not the
 * project's own code); null otherwise.
 */
export function librarySite(capture: Capture): string | null {
  let site = sites.get(capture);
  if (site === undefined) {
    site = null;
    for (const line of rawStack(capture).split('\n')) {
      if (!/^\s+at /.test(line) || isInternalFrame(line)) continue;
      if (line.includes(NODE_MODULES)) site = line.trim().replace(/^at (?:async )?(?:.*\()?/, '').replace(/\)$/, '');
      break;
    }
    sites.set(capture, site);
  }
  return site;
}
