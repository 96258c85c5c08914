// Preloaded into the program by `uv-drain why|snapshot` (node --require).
// Tracks creation stacks from the start and reports the loop on SIGUSR2,
// after --after ms, and when the program idles while something holds it
// open (it would not exit). Reports go to a file descriptor the CLI reads
// (never to the program's stdout); nothing here holds the loop.
//
// Configured by the UV_DRAIN_CLI environment variable (JSON), which it
// removes, with its own --require in NODE_OPTIONS, so that the program's
// child processes run untouched.
import fs = require('node:fs');
import { isMainThread } from 'node:worker_threads';

import { withoutOwner } from '../birth-state';
import { retainStacks, onTimerBirth } from '../stacks';
import { PendingTimers } from '../timers';
import { formatReport } from './format';
import { ENV_CONFIG, type PreloadConfig } from './preload-config';
import { buildReport, handleIds, type ProcessReport } from './report';

/** Loop utilisation below this counts as idle (the preload's own probe costs far less). */
const IDLE_UTILIZATION = 0.02;
const BUSY_UTILIZATION = 0.1;

const raw = process.env[ENV_CONFIG];
if (isMainThread && raw !== undefined) {
  delete process.env[ENV_CONFIG];
  const options = process.env.NODE_OPTIONS;
  if (options !== undefined) {
    const cleaned = options.replace(/\s*--require[= ]("[^"]*preload\.js"|\S*preload\.js)/, '').trim();
    if (cleaned === '') delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = cleaned;
  }
  start(JSON.parse(raw) as PreloadConfig);
}

function start(config: PreloadConfig): void {
  const startup = handleIds();
  if (config.tracking) retainStacks();
  // Held strongly: the program's report lists them until they are done.
  const timers = new PendingTimers<true>({ pruneAt: 1024 });
  if (config.tracking) onTimerBirth((timer) => timers.set(timer, true));
  const own = new Set<string>();
  const source = { kind: config.kind, tracking: config.tracking, startup, own, timers };

  const emit = (reason: ProcessReport['reason']) => {
    const report = buildReport(source, reason);
    if (config.fd === undefined) writeAll(2, formatReport(report, { tty: false }));
    else writeAll(config.fd, JSON.stringify(report) + '\n');
  };

  // Node shares one unref'd signal handle among all SIGUSR2 listeners.
  const before = handleIds();
  process.on('SIGUSR2', () => emit('signal'));
  for (const id of handleIds()) if (!before.has(id)) own.add(id);

  withoutOwner(() => {
    if (config.afterMs !== undefined) setTimeout(() => emit('after'), config.afterMs).unref();
    if (config.idleMs > 0) watchIdle(config.idleMs, () => emit('idle'));
  });
}

// beforeExit never fires while something holds the loop, so an unref'd
// timer samples the loop's utilisation instead: it fires while the program
// is held open and never holds it by itself. The program is idle when the
// loop was busy less than IDLE_UTILIZATION of the last `idleMs`; one report
// per idle spell, and a spell ends only once the loop was busy more than
// BUSY_UTILIZATION of a whole window (a shared machine's hiccups do not).
function watchIdle(idleMs: number, report: () => void): void {
  const period = Math.max(10, Math.min(250, Math.floor(idleMs / 4)));
  type Sample = { at: number; elu: ReturnType<typeof performance.eventLoopUtilization> };
  let samples: Sample[] = [{ at: performance.now(), elu: performance.eventLoopUtilization() }];
  let reported = false;
  setInterval(() => {
    const at = performance.now();
    const elu = performance.eventLoopUtilization();
    samples.push({ at, elu });
    // Keep the newest sample that is at least idleMs old as the window's start.
    while (samples.length > 2 && at - samples[1].at >= idleMs) samples.shift();
    const start = samples[0];
    if (at - start.at < idleMs) return;
    const utilization = performance.eventLoopUtilization(elu, start.elu).utilization;
    if (utilization > BUSY_UTILIZATION) reported = false;
    if (reported || utilization > IDLE_UTILIZATION) return;
    reported = true;
    report();
    // The report's own work is not the program's.
    samples = [{ at: performance.now(), elu: performance.eventLoopUtilization() }];
  }, period).unref();
}

function writeAll(fd: number, text: string): void {
  const data = Buffer.from(text);
  let offset = 0;
  while (offset < data.length) {
    try {
      offset += fs.writeSync(fd, data, offset);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      return; // the CLI is gone: the program goes on regardless
    }
  }
}
