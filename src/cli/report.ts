// What a process holds on its loop, as the CLI's preload reports it.
import path = require('node:path');

import { snapshot, stats, type HandleInfo, type LoopStats } from '../accounting';
import { binding } from '../native';
import { idOf, keyOfId, keysOf } from '../records';
import { timerFacts, type PendingTimers, type TimerFacts } from '../timers';
import { uvTypeOf } from '../births';
import { stackOf } from '../stack-text';
import { handleCapture, takeMatches, timerCapture } from '../stacks';

/** One handle of the loop. */
export interface HandleRow extends HandleInfo {
  /** Creation stack trimmed to user frames, or null (tracking off, or born before tracking). */
  stack: string | null;
  /** 'startup': Node's own, there before the program ran; 'uv-drain': the preload's own. */
  origin: 'startup' | 'uv-drain' | null;
  /** Whether it keeps the loop alive now: active and referenced, or closing. */
  holds: boolean;
}

/** One pending JS timer or immediate (all share Node's one uv timer / check handle). */
export interface TimerRow extends TimerFacts {
  owner: string | null;
  stack: string | null;
}

export interface ProcessReport {
  /** Format version of this document. */
  version: 1;
  /** 'why': what holds the loop; 'snapshot': everything on it. */
  kind: 'why' | 'snapshot';
  /** What asked for the report: SIGUSR2, --after, or the program idling while held open. */
  reason: 'signal' | 'after' | 'idle';
  pid: number;
  argv: string[];
  uptimeMs: number;
  loop: LoopStats;
  handles: HandleRow[];
  timers: TimerRow[];
  /** Requests in flight (fs, DNS, writes...): libuv counts them but cannot list them. */
  requests: number;
  tracking: boolean;
}


export interface ReportSource {
  kind: 'why' | 'snapshot';
  tracking: boolean;
  startup: Set<string>;
  own: Set<string>;
  /** JS timers born since the preload ran (tracking on). */
  timers: PendingTimers<true>;
}

export function buildReport(source: ReportSource, reason: ProcessReport['reason']): ProcessReport {
  if (source.tracking) takeMatches();
  const handles: HandleRow[] = snapshot().map((h) => {
    const capture = source.tracking ? handleCapture(keyOfId(h.id)) : undefined;
    const stack = capture !== undefined && uvTypeOf(capture.asyncType) === h.type ? stackOf(capture) : null;
    const origin = source.own.has(h.id) ? 'uv-drain' : source.startup.has(h.id) ? 'startup' : null;
    return { ...h, stack, origin, holds: (h.active && h.ref) || h.closing };
  });
  const timers: TimerRow[] = [];
  for (const [timer] of source.timers.entries()) {
    const capture = timerCapture(timer);
    timers.push({ ...timerFacts(timer, capture), owner: capture?.owner ?? null, stack: stackOf(capture) });
  }
  const loop = stats();
  const why = source.kind === 'why';
  return {
    version: 1,
    kind: source.kind,
    reason,
    pid: process.pid,
    argv: [path.basename(process.argv[0]), ...process.argv.slice(1)],
    uptimeMs: Math.round(process.uptime() * 1000),
    loop,
    // What holds the loop, without the preload's own handles; Node's startup
    // timer and idle handle hold it only for the JS timers and immediates
    // listed one by one (when tracking is on).
    handles: why
      ? handles.filter(
          (h) =>
            h.holds &&
            h.origin !== 'uv-drain' &&
            !(source.tracking && h.origin === 'startup' && (h.type === 'timer' || h.type === 'idle')),
        )
      : handles,
    timers: why ? timers.filter((t) => t.ref) : timers,
    requests: loop.activeReqs,
    tracking: source.tracking,
  };
}

/** Ids of every handle on the loop now. */
export function handleIds(): Set<string> {
  const { records } = binding.snapshot(false);
  return new Set([...keysOf(records)].map(idOf));
}
