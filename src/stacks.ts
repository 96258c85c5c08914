// Creation stacks: where each live handle and each JS timer was made.
//
// The birth observer (owners.ts) sees every async resource born. A handle
// birth gets a sequence number that the addon later reports with the uv
// handle it matched (binding.takeMatches(): [seq, addrHi, addrLo] triples),
// so a stack captured at birth can be filed under the handle's address. JS
// timers have no uv handle of their own (they share Node's one timer): their
// stack is kept by resource.
//
// Stacks are captured as Error objects and formatted only when read: V8
// keeps the raw frames, and formatting (plus the source maps a test runner
// may apply) costs far more than capturing.
import path = require('node:path');

import { sharedByStack } from './code-owners';
import { binding } from './native';
import { setBirthObserver, type Birth } from './owners';
import { halves, keyOf, keysOf } from './records';
import { currentScope, poolAtBirth, watchPools, type Scope } from './scopes';

/** What is known about one handle's or JS timer's birth. */
export interface Capture {
  /** async_hooks type: 'TCPSERVERWRAP', 'Timeout'... */
  readonly asyncType: string;
  readonly asyncId: number;
  readonly triggerAsyncId: number;
  /** The owner current at birth, or null. */
  readonly owner: string | null;
  /** Birth order among observed births: later births have larger epochs. */
  readonly epoch: number;
  /** Raw frames, formatted lazily by stackOf(); null for immediates (not captured). */
  readonly error: Error | null;
  /** The call of module code that Node was continuing at birth (a lookup's callback), if any. */
  readonly origin: Error | null;
  /** Known at birth to be made by Node's shared machinery (a global agent's socket). */
  readonly shared: boolean;
  /** Handles: Node's wrap of the handle, held weakly (addresses, a pid: what the resource is). */
  readonly wrap?: WeakRef<object>;
  /**
   * The check scope it was born in (scopes.ts): its pool's for a socket a
   * pool opened, else the async context's, else its trigger's (a connection
   * is born outside any context, its server is its trigger); null when none.
   */
  readonly scope: Scope | null;
  /** The epoch of what it belongs to: its pool's creation for a pooled socket, else its own. */
  readonly madeEpoch: number;
  /** The capture of the resource that triggered this birth, if observed (a server, a DNS lookup). */
  readonly trigger: Capture | undefined;
  /** A MessagePort born while a Worker was being made: that Worker's handle object, held weakly. */
  readonly worker?: WeakRef<{ threadId?: unknown }>;
}

/** The uv handle type an async resource type makes, or null (owners.ts keeps the table). */
export { uvTypeOf } from './owners';

/** Frames kept at capture: enough to get past Node's and a library's frames into the caller's. */
const CAPTURE_FRAMES = 40;
/** For timers (made far more often, and by shallower calls). */
const TIMER_FRAMES = 24;
/** Frames shown after trimming. */
export const SHOWN_FRAMES = 8;
/** Housekeeping (matching and pruning) runs after this many handle births. */
const PRUNE_EVERY = 512;

let users = 0;
let epoch = 0;
/** Handle births waiting for their uv handle: seq -> capture (and the prune round it was seen in). */
const pendingBySeq = new Map<number, { capture: Capture; round: number }>();
/** Live handles by address key (hi * 2^32 + lo). */
const byAddress = new Map<number, Capture>();
/** Handle captures by async id, for births with no frames of their own (an accepted connection). */
const byAsyncId = new Map<number, Capture>();
/** DNS lookups by async id, kept a prune round or two: only as triggers of what their callbacks make. */
const lookups = new Map<number, { capture: Capture; round: number }>();
// A timer's capture lives on the timer itself: a WeakMap entry per timer
// costs the garbage collector far more (ephemerons) in timer-heavy code.
const CAPTURE = Symbol('uv-drain:capture');
type TimerCaptured = { [CAPTURE]?: Capture };
const timerListeners = new Set<(timer: object, capture: Capture) => void>();
let round = 0;
let birthsSincePrune = 0;
/** The Worker being constructed (until the current microtask checkpoint). */
let makingWorker: WeakRef<object> | null = null;

/**
 * Turns creation tracking on (counted: each caller calls the returned
 * function once to let go). While on, every handle and JS timer born gets
 * its creation stack.
 */
export function retainStacks(): () => void {
  if (users++ === 0) {
    watchPools(nextEpoch);
    setBirthObserver(observe);
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--users === 0) {
      setBirthObserver(null);
      pendingBySeq.clear();
      byAsyncId.clear();
      lookups.clear();
      byAddress.clear();
      sharedSockets.clear();
    }
  };
}

export function stacksOn(): boolean {
  return users > 0;
}

/** The epoch the next observed birth will get. */
export function nextEpoch(): number {
  return epoch;
}

/** Calls `listener` for every JS timer or immediate born while stacks are on; returns an unsubscribe function. */
export function onTimerBirth(listener: (timer: object, capture: Capture) => void): () => void {
  timerListeners.add(listener);
  return () => timerListeners.delete(listener);
}

function observe(birth: Birth): void {
  const type = birth.type;
  if (type === 'Immediate') {
    // An immediate runs in the next loop iteration: only an endless chain
    // outlives a test, and its latest birth's stack is inside the chain
    // itself. Its birth is announced (leak checks track it), without a stack:
    // immediate-heavy code would pay a stack capture per callback.
    const timer = birth.resource as TimerCaptured;
    if (timer[CAPTURE] !== undefined) return;
    const capture = makeCapture(birth, null);
    timer[CAPTURE] = capture;
    for (const listener of timerListeners) listener(timer, capture);
    return;
  }
  const isTimeout = type === 'Timeout';
  if (type === 'WORKER') {
    // Its ports are born next, in the same synchronous constructor.
    makingWorker = new WeakRef(birth.resource as object);
    queueMicrotask(() => (makingWorker = null));
    return;
  }
  if (type === 'GETADDRINFOREQWRAP') {
    // Kept only as the trigger of what is born in its callback.
    const capture = makeCapture(birth, captureStack());
    settleLater(capture, undefined);
    lookups.set(birth.asyncId, { capture, round });
    if (++birthsSincePrune >= PRUNE_EVERY) queueMicrotask(prune);
    return;
  }
  if (birth.handleSeq < 0 && !isTimeout) return; // other requests
  if (isTimeout) {
    // A refreshed Timeout is announced again: it keeps its first birth.
    const timer = birth.resource as TimerCaptured;
    if (timer[CAPTURE] !== undefined) return;
    const capture = makeCapture(birth, stackUnlessShared(birth, TIMER_FRAMES));
    timer[CAPTURE] = capture;
    settleLater(capture, timer);
    for (const listener of timerListeners) listener(timer, capture);
    return;
  }
  const capture = makeCapture(birth, stackUnlessShared(birth));
  settleLater(capture, undefined);
  if (type === 'MESSAGEPORT' && makingWorker !== null) (capture as { worker?: WeakRef<object> }).worker = makingWorker;
  if (typeof birth.resource === 'object' && birth.resource !== null) {
    (capture as { wrap?: WeakRef<object> }).wrap = new WeakRef(birth.resource);
    if (capture.shared && birth.type === 'TCPWRAP') sharedSockets.add(capture);
  }
  pendingBySeq.set(birth.handleSeq, { capture, round });
  byAsyncId.set(birth.asyncId, capture);
  if (++birthsSincePrune >= PRUNE_EVERY) queueMicrotask(prune);
}

// An Error keeps V8's raw frames — each frame's function and receiver, and
// through them whatever the test's closures hold — until its stack is first
// formatted. A capture that outlives the code that made it must not keep the
// test's objects from being collected (a keep-alive socket's timer would keep
// the response, its request and their AbortController): its stack is
// formatted once the current macrotask's synchronous code is done. Timers
// already cleared or run by then (the common case in timer-heavy code) are
// skipped, and most of the formatting cost with them. It is formatted the way
// V8 does by itself (plainStack): a test runner's source-map support
// (Vite's Error.prepareStackTrace) is applied only to a stack a report
// shows (mapStack).
let unsettled: { capture: Capture; timer: TimerCaptured | undefined }[] = [];
function settleLater(capture: Capture, timer: TimerCaptured | undefined): void {
  if (unsettled.push({ capture, timer }) === 1) queueMicrotask(settle);
}

function settle(): void {
  const batch = unsettled;
  unsettled = [];
  for (const { capture, timer } of batch) {
    if ((timer as { _destroyed?: boolean } | undefined)?._destroyed === true) continue;
    if (capture.error !== null) plainStack(capture.error);
    if (capture.origin !== null) plainStack(capture.origin);
  }
}

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

/** A frame of a plain stack, read back as the call site V8 gives Error.prepareStackTrace. */
class SavedCallSite {
  constructor(
    private readonly name: string | null,
    private readonly file: string | null,
    private readonly line: number | null,
    private readonly column: number | null,
    private readonly flags: { async: boolean; construct: boolean; native: boolean },
    private readonly text: string,
  ) {}

  /** `    at [async ][new ]name (file:line:col)` or `    at file:line:col`, else null. */
  static parse(line: string): SavedCallSite | null {
    const m = /^\s+at (?:(async) )?(?:(new) )?(?:(.*?) \((.*)\)|(.*))$/.exec(line);
    if (m === null) return null;
    const where = m[4] ?? m[5];
    const text = line.trim().slice(3);
    const flags = { async: m[1] !== undefined, construct: m[2] !== undefined, native: where === 'native' };
    const pos = /^(.*):(\d+):(\d+)$/.exec(where);
    if (pos === null) return new SavedCallSite(m[3] ?? null, where === 'native' || where === '<anonymous>' ? null : where, null, null, flags, text);
    return new SavedCallSite(m[3] ?? null, pos[1], Number(pos[2]), Number(pos[3]), flags, text);
  }

  getThis(): undefined {
    return undefined;
  }
  getTypeName(): null {
    return null;
  }
  getFunction(): undefined {
    return undefined;
  }
  getFunctionName(): string | null {
    return this.name;
  }
  getMethodName(): null {
    return null;
  }
  getFileName(): string | undefined {
    return this.file ?? undefined;
  }
  getLineNumber(): number | null {
    return this.line;
  }
  getColumnNumber(): number | null {
    return this.column;
  }
  getEvalOrigin(): undefined {
    return undefined;
  }
  getScriptNameOrSourceURL(): string | undefined {
    return this.file ?? undefined;
  }
  getScriptHash(): string {
    return '';
  }
  getEnclosingColumnNumber(): null {
    return null;
  }
  getEnclosingLineNumber(): null {
    return null;
  }
  getPosition(): number {
    return 0;
  }
  getPromiseIndex(): null {
    return null;
  }
  isToplevel(): boolean {
    return true;
  }
  isEval(): boolean {
    return false;
  }
  isNative(): boolean {
    return this.flags.native;
  }
  isConstructor(): boolean {
    return this.flags.construct;
  }
  isAsync(): boolean {
    return this.flags.async;
  }
  isPromiseAll(): boolean {
    return false;
  }
  toString(): string {
    return this.text;
  }
}

/** What the process's shared machinery makes is never reported: no stack to pay for. */
function stackUnlessShared(birth: Birth, frames = CAPTURE_FRAMES): Error | null {
  return birth.shared || poolAtBirth()?.shared === true ? null : captureStack(frames);
}

function captureStack(frames = CAPTURE_FRAMES): Error {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = frames;
  const error = new Error('created');
  Error.stackTraceLimit = limit;
  return error;
}

function makeCapture(birth: Birth, error: Error | null): Capture {
  const trigger = byAsyncId.get(birth.triggerAsyncId) ?? lookups.get(birth.triggerAsyncId)?.capture;
  const pool = poolAtBirth();
  const own = epoch++;
  return {
    asyncType: birth.type,
    asyncId: birth.asyncId,
    triggerAsyncId: birth.triggerAsyncId,
    owner: birth.owner,
    epoch: own,
    error,
    origin: birth.origin,
    shared: birth.shared || pool?.shared === true,
    scope: pool !== null ? pool.scope : (currentScope() ?? trigger?.scope ?? null),
    madeEpoch: pool !== null ? pool.epoch : own,
    trigger,
  };
}

/** Files the matched handle births under their addresses. */
export function takeMatches(): void {
  if (users === 0) return;
  const matches = binding.takeMatches();
  for (let i = 0; i < matches.length; i += 3) {
    const entry = pendingBySeq.get(matches[i]);
    if (entry === undefined) continue;
    pendingBySeq.delete(matches[i]);
    byAddress.set(keyOf(matches[i + 1]!, matches[i + 2]!), entry.capture);
  }
}

// Matches, then forgets what cannot matter any more: births never matched
// (the addon drops them once every announced handle exists; two rounds is
// past that) and handles no longer on the loop.
function prune(): void {
  if (birthsSincePrune < PRUNE_EVERY || users === 0) return;
  birthsSincePrune = 0;
  takeMatches();
  for (const [seq, entry] of pendingBySeq) if (entry.round < round) pendingBySeq.delete(seq);
  for (const [asyncId, entry] of lookups) if (entry.round < round) lookups.delete(asyncId);
  round++;
  const live = keysOf(binding.snapshot(false).records);
  for (const key of byAddress.keys()) if (!live.has(key)) byAddress.delete(key);
  const kept = new Set<Capture>(byAddress.values());
  for (const entry of pendingBySeq.values()) kept.add(entry.capture);
  for (const [asyncId, capture] of byAsyncId) if (!kept.has(capture)) byAsyncId.delete(asyncId);
}

/** The birth of the live handle at address key `key`, if it was observed. */
export function handleCapture(key: number): Capture | undefined {
  return byAddress.get(key);
}

/** The birth of a JS timer or immediate, if it was observed. */
export function timerCapture(timer: object): Capture | undefined {
  return (timer as TimerCaptured)[CAPTURE];
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
  const own = trimStack(mapStack(plainStack(capture.error)), frames);
  if (own !== '') return own;
  const origin = capture.origin === null ? '' : trimStack(mapStack(plainStack(capture.origin)), frames);
  if (origin !== '') return `    (born when Node continued the call made at:)\n${origin}`;
  // The nearest trigger with a stack of its own: a connection's server, or
  // the DNS lookup a server listening on a host name was born after.
  const via: string[] = [];
  for (let trigger = capture.trigger; trigger !== undefined && via.length < 4; trigger = trigger.trigger) {
    via.push(TRIGGER_NAMES[trigger.asyncType] ?? trigger.asyncType);
    let stack = trigger.error === null ? '' : trimStack(mapStack(plainStack(trigger.error)), frames);
    if (stack === '' && trigger.origin !== null) stack = trimStack(mapStack(plainStack(trigger.origin)), frames);
    if (stack !== '') return `    (born in a callback of a ${via.join(' ← a ')} made at:)\n${stack}`;
  }
  return '    (born in a callback from Node or libuv: no user frame)';
}

const PACKAGE_ROOT = path.resolve(__dirname, '..');
const OWN_DIRS = [path.join(PACKAGE_ROOT, 'dist') + path.sep, path.join(PACKAGE_ROOT, 'src') + path.sep];
const RUNNER_PARTS = [
  `${path.sep}node_modules${path.sep}vitest${path.sep}`,
  `${path.sep}node_modules${path.sep}@vitest${path.sep}`,
  `${path.sep}node_modules${path.sep}vite${path.sep}`,
  `${path.sep}node_modules${path.sep}tinypool${path.sep}`,
];

const runnerMade = new WeakMap<Capture, boolean>();
const sharedMade = new WeakMap<Capture, boolean>();
const stackShared = new WeakMap<Capture, boolean>();
/** Captures of the pooled client sockets of Node's global agents (forgotten once their wrap is gone). */
const sharedSockets = new Set<Capture>();

type TcpWrap = { getsockname?(out: object): number; getpeername?(out: object): number; pid?: unknown };

function addressOf(capture: Capture, which: 'getsockname' | 'getpeername'): string | null {
  const wrap = capture.wrap?.deref() as TcpWrap | undefined;
  const out: { address?: string; port?: number } = {};
  if (typeof wrap?.[which] !== 'function' || wrap[which]!(out) !== 0 || out.port === undefined) return null;
  // A dual-stack server sees an IPv4 peer as ::ffff:a.b.c.d.
  const address = out.address?.startsWith('::ffff:') ? out.address.slice(7) : (out.address ?? '');
  return address.includes(':') ? `[${address}]:${out.port}` : `${address}:${out.port}`;
}

// Node's wrap points at its ChildProcess through an internal symbol (named
// owner_symbol in every version uv-drain supports); its spawnargs are the command.
function commandOf(wrap: object): string | null {
  const symbol = Object.getOwnPropertySymbols(wrap).find((s) => s.description === 'owner_symbol');
  const args = symbol === undefined ? undefined : (wrap as Record<symbol, { spawnargs?: unknown } | undefined>)[symbol]?.spawnargs;
  if (!Array.isArray(args) || args.length === 0) return null;
  const text = args.map(String).join(' ');
  return text.length > 100 ? `${text.slice(0, 97)}...` : text;
}

/**
 * What a handle is, as Node names it, from its wrap while the handle lives:
 * `TCP server 127.0.0.1:3000`, `TCP socket 127.0.0.1:5000 → 127.0.0.1:3000`,
 * `UDP socket 127.0.0.1:41234`, `child process pid 4242`, `MessagePort`...
 * A watcher or a pipe is named by the path libuv keeps for it (read from the
 * live handle at `key`, capture or not). Null when unknown.
 */
export function describeResource(capture: Capture | undefined, key?: number, type?: string): string | null {
  if (key !== undefined && (type === 'fs_event' || type === 'fs_poll' || type === 'pipe')) {
    const where = binding.handlePath(...halves(key));
    const pipe = capture?.asyncType === 'PIPESERVERWRAP' ? 'pipe server' : 'pipe';
    const kind = type === 'fs_event' ? 'fs.watch watcher' : type === 'fs_poll' ? 'fs.watchFile watcher' : pipe;
    if (where !== undefined) return `${kind} ${where}`;
    if (capture === undefined) return null;
  }
  if (capture === undefined || capture.wrap?.deref() === undefined) return null;
  switch (capture.asyncType) {
    case 'TCPSERVERWRAP': {
      const local = addressOf(capture, 'getsockname');
      return local === null ? 'TCP server' : `TCP server ${local}`;
    }
    case 'TCPWRAP': {
      const local = addressOf(capture, 'getsockname');
      const remote = addressOf(capture, 'getpeername');
      return local === null ? 'TCP socket' : remote === null ? `TCP socket ${local}` : `TCP socket ${local} → ${remote}`;
    }
    case 'UDPWRAP': {
      const local = addressOf(capture, 'getsockname');
      return local === null ? 'UDP socket' : `UDP socket ${local}`;
    }
    case 'PROCESSWRAP': {
      const wrap = capture.wrap.deref() as TcpWrap;
      const pid = typeof wrap.pid === 'number' ? ` pid ${wrap.pid}` : '';
      const command = commandOf(wrap);
      return `child process${pid}${command === null ? '' : ` (${command})`}`;
    }
    case 'PIPESERVERWRAP':
      return 'pipe server';
    case 'PIPEWRAP':
      return 'pipe';
    case 'MESSAGEPORT': {
      // A port born inside `new Worker()` (its frame says so) is the Worker's.
      const threadId = capture.worker?.deref()?.threadId;
      if (typeof threadId === 'number' && /\bnew Worker\b/.test(capture.error === null ? '' : plainStack(capture.error))) return `MessagePort of Worker thread ${threadId}`;
      return 'MessagePort';
    }
    case 'FSEVENTWRAP':
      return 'fs.watch watcher';
    case 'STATWATCHER':
      return 'fs.watchFile watcher';
    case 'SIGNALWRAP':
      return 'signal handler';
    case 'TTYWRAP':
      return 'TTY';
    default:
      return null;
  }
}

// The server side of a connection a shared pool opened in this process (a
// server from beforeAll accepting the global agent's keep-alive socket) is
// the pool's too: its peer is one of the pooled sockets.
function servesSharedSocket(capture: Capture): boolean {
  if (capture.asyncType !== 'TCPWRAP') return false;
  // Sockets fetch's dispatcher opened are known by their stacks: look once.
  for (const other of byAddress.values()) {
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
    const lines = (capture.error === null ? '' : plainStack(capture.error))
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
    const lines = (capture.error === null ? '' : plainStack(capture.error)).split('\n').filter((line) => /^\s+at /.test(line));
    const runner = lines.some((line) => RUNNER_PARTS.some((part) => line.includes(part)));
    known = runner && lines.every((line) => isInternalFrame(line));
    runnerMade.set(capture, known);
  }
  return known;
}

const sites = new WeakMap<Capture, string | null>();
const NODE_MODULES = `${path.sep}node_modules${path.sep}`;

/**
 * Where a package's code made this resource: the innermost frame that is not
 * Node's, a runner's or uv-drain's, when it lies under node_modules (not the
 * project's own code); null otherwise.
 */
export function librarySite(capture: Capture): string | null {
  let site = sites.get(capture);
  if (site === undefined) {
    site = null;
    for (const line of (capture.error === null ? '' : plainStack(capture.error)).split('\n')) {
      if (!/^\s+at /.test(line) || isInternalFrame(line)) continue;
      if (line.includes(NODE_MODULES)) site = line.trim().replace(/^at (?:async )?(?:.*\()?/, '').replace(/\)$/, '');
      break;
    }
    sites.set(capture, site);
  }
  return site;
}

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
