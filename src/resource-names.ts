// What a handle is, in the words a report uses: `TCP server 127.0.0.1:3000`,
// `child process pid 4242 (node worker.js)`, a watcher by its path. Read
// from Node's wrap of the handle while it lives, or from libuv for paths.
import { binding } from './native';
import { halves } from './records';
import { rawStack } from './stack-text';
import type { Capture } from './stacks';

type TcpWrap = { getsockname?(out: object): number; getpeername?(out: object): number; pid?: unknown };

export function addressOf(capture: Capture, which: 'getsockname' | 'getpeername'): string | null {
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
      if (typeof threadId === 'number' && /\bnew Worker\b/.test(rawStack(capture))) return `MessagePort of Worker thread ${threadId}`;
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
