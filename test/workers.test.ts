// Worker threads: each thread's uv-drain sees its own loop (and its own
// owner names) only, and workers that load uv-drain can be terminated with
// tagged handles open, or end by themselves, without bringing the process down.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  countsByOwner,
  countsFor,
  snapshot,
  trackOwners,
  withOwner,
  type HandleInfo,
  type OwnerCounts,
} from '../dist/index.js';
import { baselinePerTest, untilNoHandles } from './helpers';

const OWN_LOOP_WORKER = fileURLToPath(new URL('./workers/own-loop.mjs', import.meta.url));
const STRESS = fileURLToPath(new URL('./workers/stress.mjs', import.meta.url));

const NOTHING = { total: 0, active: 0, ref: 0, closing: 0, requests: 0, timers: 0 };

interface OwnLoopReport {
  threadId: number;
  handlesBefore: number;
  handlesAfter: number;
  snapshot: HandleInfo[];
  shared: OwnerCounts;
  workerOnly: OwnerCounts;
  byOwner: Record<string, OwnerCounts>;
}

interface OwnLoopClosed {
  closed: { shared: OwnerCounts; workerOnly: OwnerCounts; byOwner: Record<string, OwnerCounts> };
}

interface MainView {
  snapshot: HandleInfo[];
  shared: OwnerCounts;
  workerOnly: OwnerCounts;
  byOwner: Record<string, OwnerCounts>;
  serverId: string;
}

/**
 * Runs test/workers/own-loop.mjs while this thread has a 'shared' server of
 * its own; returns what each side saw while both servers were open.
 */
async function runOwnLoopWorker(): Promise<{
  report: OwnLoopReport;
  main: MainView;
  closed: OwnLoopClosed;
  exitCode: number;
}> {
  // listen() with a host makes its handle on a later tick (after a lookup,
  // even of an IP literal): tracking attributes it.
  trackOwners(true);
  const server = withOwner('shared', () => net.createServer().listen(0, '127.0.0.1'));
  try {
    await once(server, 'listening');
    trackOwners(false);
    const worker = new Worker(OWN_LOOP_WORKER);
    const exited = once(worker, 'exit') as Promise<[number]>;
    const [report] = (await once(worker, 'message')) as [OwnLoopReport];
    const mainSnapshot = snapshot();
    const serverFd = (server as unknown as { _handle: { fd: number } })._handle.fd;
    const main: MainView = {
      snapshot: mainSnapshot,
      shared: countsFor('shared'),
      workerOnly: countsFor('worker-only'),
      byOwner: countsByOwner(),
      serverId: mainSnapshot.find((h) => h.fd === serverFd)?.id ?? 'not found',
    };
    worker.postMessage('close');
    const [closed] = (await once(worker, 'message')) as [OwnLoopClosed];
    const [exitCode] = await exited;
    return { report, main, closed, exitCode };
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await untilNoHandles('shared');
  }
}

/** Runs test/workers/stress.mjs in a child `node` process. */
function runStress(
  mode: 'terminate' | 'terminate-early' | 'close',
  count: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [STRESS, mode, String(count), '8'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

interface StressSummary {
  workers: number;
  reported: number;
  exitCodes: Record<string, number>;
  reports: Record<string, number>;
  mainByOwner: Record<string, OwnerCounts>;
}

function summaryOf(stdout: string): StressSummary {
  return JSON.parse(stdout.trim().split('\n').pop() ?? '') as StressSummary;
}

describe('worker threads', () => {
  baselinePerTest({ tidy: () => trackOwners(false) });

  describe('each thread sees its own loop', () => {
    it('a worker’s snapshot() and the main thread’s snapshot() share no handle', async () => {
      const { report, main, exitCode } = await runOwnLoopWorker();
      expect(exitCode).toBe(0);
      const mainIds = new Set(main.snapshot.map((h) => h.id));
      expect(report.snapshot.filter((h) => mainIds.has(h.id))).toEqual([]);
      // Each side's 'shared' server is on its own side only.
      const workerShared = report.snapshot.filter((h) => h.owner === 'shared');
      expect(workerShared).toMatchObject([{ type: 'tcp' }]);
      expect(mainIds.has(workerShared[0].id)).toBe(false);
      expect(report.snapshot.map((h) => h.id)).not.toContain(main.serverId);
      expect(main.snapshot.filter((h) => h.owner === 'worker-only')).toEqual([]);
    });

    it('a worker’s stats() counts the handles of its own loop only', async () => {
      const { report, exitCode } = await runOwnLoopWorker();
      expect(exitCode).toBe(0);
      // Its server and its two ports; nothing of the main thread's.
      expect(report.handlesAfter - report.handlesBefore).toBe(3);
      expect(report.handlesAfter).toBe(report.snapshot.length);
    });

    it('owner names are per thread: countsFor() counts the calling thread’s handles of that name', async () => {
      const { report, main, exitCode } = await runOwnLoopWorker();
      expect(exitCode).toBe(0);
      expect(report.shared).toEqual({ total: 1, active: 1, ref: 1, closing: 0, requests: 0, timers: 0 });
      expect(report.workerOnly).toEqual({ total: 2, active: 2, ref: 0, closing: 0, requests: 0, timers: 0 });
      expect(main.shared).toEqual({ total: 1, active: 1, ref: 1, closing: 0, requests: 0, timers: 0 });
      expect(main.workerOnly).toEqual(NOTHING);
    });

    it('a worker’s countsByOwner() lists its own owners only', async () => {
      const { report, main, exitCode } = await runOwnLoopWorker();
      expect(exitCode).toBe(0);
      expect(report.byOwner).toEqual({ shared: report.shared, 'worker-only': report.workerOnly });
      expect(main.byOwner['shared']).toEqual(main.shared);
      expect(main.byOwner['worker-only']).toBeUndefined();
    });

    it('a worker sees its owners drained on its own loop once it has closed their handles', async () => {
      const { closed, exitCode } = await runOwnLoopWorker();
      expect(exitCode).toBe(0);
      expect(closed.closed).toEqual({ shared: NOTHING, workerOnly: NOTHING, byOwner: {} });
    });
  });

  describe('200 workers that load uv-drain and tag handles', () => {
    it('terminating each one while its tagged handles are open does not abort the process', async () => {
      const { code, signal, stdout, stderr } = await runStress('terminate', 200);
      expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: '' });
      const summary = summaryOf(stdout);
      expect(summary).toMatchObject({ workers: 200, reported: 200, exitCodes: { 1: 200 }, mainByOwner: {} });
      expect(Object.values(summary.reports)).toEqual([200]);
      expect(JSON.parse(Object.keys(summary.reports)[0])).toEqual({
        counts: {
          stress: { total: 3, active: 3, ref: 1, closing: 0, requests: 0, timers: 0 },
          tracked: { total: 1, active: 1, ref: 1, closing: 0, requests: 0, timers: 0 },
        },
      });
    }, 60_000);

    it('terminating each one as soon as it is online, mid-start, does not abort the process', async () => {
      const { code, signal, stdout, stderr } = await runStress('terminate-early', 200);
      expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: '' });
      expect(summaryOf(stdout)).toMatchObject({ workers: 200, exitCodes: { 1: 200 }, mainByOwner: {} });
    }, 60_000);

    it('letting each one close everything and end by itself exits every worker with code 0', async () => {
      const { code, signal, stdout, stderr } = await runStress('close', 200);
      expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: '' });
      const summary = summaryOf(stdout);
      expect(summary).toMatchObject({ workers: 200, reported: 200, exitCodes: { 0: 200 }, mainByOwner: {} });
      expect(Object.values(summary.reports)).toEqual([200]);
      expect(JSON.parse(Object.keys(summary.reports)[0])).toEqual({
        counts: {
          stress: { total: 3, active: 3, ref: 1, closing: 0, requests: 0, timers: 0 },
          tracked: { total: 1, active: 1, ref: 1, closing: 0, requests: 0, timers: 0 },
        },
        drained: {},
      });
    }, 60_000);
  });
});
