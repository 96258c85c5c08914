// Churn and memory: 1 000 000 tagged handles born and closed, 200 000 owned
// JS timers fired, and 1 000 worker threads that load uv-drain and exit, each
// in a child process run with --expose-gc (test/scripts/churn-*.mjs). The
// figures are printed; only generous, timing-free bounds are asserted: RSS
// and the owner tables stay flat, nothing is left on the loop, no abort.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const HANDLES_SCRIPT = fileURLToPath(new URL('./scripts/churn-handles.mjs', import.meta.url));
const WORKERS_SCRIPT = fileURLToPath(new URL('./scripts/churn-workers.mjs', import.meta.url));

// ASan (npm run test:asan) keeps freed memory in a quarantine of up to
// 256 MB: RSS bounds say nothing there, everything else still holds.
const UNDER_ASAN = (process.env.LD_PRELOAD ?? '').includes('libasan');

const NOTHING = { total: 0, active: 0, ref: 0, closing: 0, requests: 0, timers: 0 };

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  report: any;
}

function runScript(script: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const last = stdout.trim().split('\n').pop() ?? '';
      let report: unknown = null;
      try {
        report = JSON.parse(last);
      } catch {
        report = { unparsable: stdout.slice(-2000) };
      }
      resolve({ code, signal, stderr, report });
    });
  });
}

describe('1 000 000 tagged raw handles born and closed, 200 000 owned JS timers', () => {
  let run: Run;
  beforeAll(async () => {
    run = await runScript(HANDLES_SCRIPT, ['1000000', '10000', '200000']);
    console.log(`churn-handles: ${JSON.stringify(run.report)}`);
  }, 300_000);

  it('runs to the end without an error', () => {
    expect({ code: run.code, signal: run.signal, stderr: run.stderr }).toEqual({ code: 0, signal: null, stderr: '' });
    expect(run.report.handles).toMatchObject({ born: 1_050_000, owners: 8 });
  });

  it('leaves nothing on the loop and no owner with anything alive', () => {
    expect(run.report.countsByOwnerAfter).toEqual({});
    expect(run.report.loopHandles.closing).toBe(0);
    // Node may have made its own unref'd, unowned platform timer meanwhile.
    for (const h of run.report.loopHandles.new) expect(h).toMatchObject({ owner: null, ref: false });
  });

  it.skipIf(UNDER_ASAN)('keeps RSS and the JS heap flat', () => {
    expect(run.report.growthMB.rss).toBeLessThan(32);
    expect(run.report.growthMB.heapUsed).toBeLessThan(8);
    expect(run.report.growthMB.external).toBeLessThan(8);
  });

  it('does not grow the native owner table with handle churn', () => {
    expect(run.report.ownerTable).toEqual({ before: 8, after: 8 });
  });

  it('does not keep fired JS timers of an owner nobody queried', () => {
    const t = run.report.timers;
    expect(t.countsAfter).toEqual(NOTHING);
    // 200 000 fired timers must not stay referenced until someone calls
    // countsFor() on their owner.
    expect(t.heapAfterFiredMB - t.heapBeforeMB).toBeLessThan(16);
  });
});

describe('1 000 worker threads that load uv-drain and exit', () => {
  let run: Run;
  beforeAll(async () => {
    run = await runScript(WORKERS_SCRIPT, ['1000', '4']);
    const { reports: _reports, ...figures } = run.report;
    console.log(`churn-workers: ${JSON.stringify(figures)}`);
  }, 300_000);

  it('runs every worker to its end without an abort', () => {
    expect({ code: run.code, signal: run.signal, stderr: run.stderr }).toEqual({ code: 0, signal: null, stderr: '' });
    expect(run.report.workers).toBe(1000);
    expect(run.report.exitCodes).toEqual({ 'exit:0': 900, 'terminate:1': 100 });
  });

  it('each worker saw its own handles and unloaded its module', () => {
    const counts = {
      raw: { total: 3, active: 3, ref: 3, closing: 0, requests: 0, timers: 0 },
      js: { total: 3, active: 3, ref: 1, closing: 0, requests: 0, timers: 0 },
    };
    expect(run.report.reports).toEqual({
      [`exit ${JSON.stringify({ loaded: 1, removed: true, counts, after: {} })}`]: 900,
      [`terminate ${JSON.stringify({ loaded: 1, removed: true, counts })}`]: 100,
    });
  });

  it('keeps the main thread’s RSS, heap and owners flat', () => {
    // RSS only without ASan (see UNDER_ASAN): measured there from 9 to 46 MB
    // for the same code, the quarantine filling with what 1 000 workers freed.
    if (!UNDER_ASAN) expect(run.report.growthMB.rss).toBeLessThan(40);
    expect(run.report.growthMB.heapUsed).toBeLessThan(8);
    expect(run.report.ownerTable).toEqual({ before: 1, after: 1 });
    expect(run.report.mainByOwner).toEqual({
      'churn-main': { total: 1, active: 1, ref: 1, closing: 0, requests: 0, timers: 0 },
    });
  });
});
