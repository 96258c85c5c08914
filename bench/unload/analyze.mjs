// Joins the load client's per-request records with the host's time marks and
// computes every figure of the unload benchmark. Pure: no I/O.
import { quantile } from '../lib/stats.mjs';

export const STRATEGIES = [
  'drain',
  'poll-immediate',
  'poll-interval',
  'blocking',
  'abrupt',
  'native-drain',
  'native-blocking',
  'paced',
  'native-paced',
];

export const LABELS = {
  drain: 'drain (coordinator)',
  'poll-immediate': 'poll: setImmediate',
  'poll-interval': 'poll: 10 ms setInterval',
  blocking: 'blocking deinit',
  abrupt: 'abrupt',
  'native-drain': 'C module: drain',
  'native-blocking': 'C module: blocking',
  paced: 'paced drain (coordinator)',
  'native-paced': 'C module: paced drain',
};

/** The strategies unloaded with a budget (issue 15): their figures carry it. */
export const PACED_STRATEGIES = ['paced', 'native-paced'];

const LOOKBACK_US = 30e6; // a request in flight at a window's start was due at most this long before

/** Lower bound: first index i with due[i] >= t (rows sorted by due time). */
function lowerBound(rows, n, t) {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (rows[3 * mid] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function latencyStats(values, unanswered) {
  const n = values.length;
  if (n === 0) return { n: 0, unanswered, p50Ms: null, p99Ms: null, maxMs: null };
  const sorted = Float64Array.from(values).sort();
  return {
    n,
    unanswered,
    p50Ms: quantile(sorted, 0.5) / 1e3,
    p99Ms: quantile(sorted, 0.99) / 1e3,
    maxMs: sorted[n - 1] / 1e3,
  };
}

function summary(values) {
  const v = values.filter((x) => Number.isFinite(x));
  if (v.length === 0) return null;
  const sorted = Float64Array.from(v).sort();
  return {
    n: v.length,
    min: sorted[0],
    median: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    max: sorted[sorted.length - 1],
  };
}

/** Requests of [t0, t1]: due in it and answered in it (baseline segments). */
function inside(rows, n, t0, t1, out) {
  let unanswered = 0;
  for (let i = lowerBound(rows, n, t0); i < n && rows[3 * i] <= t1; i++) {
    const recv = rows[3 * i + 2];
    if (Number.isNaN(recv)) unanswered++;
    else if (recv <= t1) out.push(recv - rows[3 * i]);
  }
  return unanswered;
}

/** Requests that overlap [t0, t1]: due before t1 and not answered before t0. */
function overlapping(rows, n, t0, t1, out) {
  let unanswered = 0;
  for (let i = lowerBound(rows, n, t0 - LOOKBACK_US); i < n && rows[3 * i] <= t1; i++) {
    const recv = rows[3 * i + 2];
    if (Number.isNaN(recv)) unanswered++;
    else if (recv >= t0) out.push(recv - rows[3 * i]);
  }
  return unanswered;
}

export const groupKey = (c) => `${c.strategy}|${c.K}|${c.P}|${c.waitMs}|${c.idle ?? 0}`;

/** Idle handles of nobody the host held during a cycle (the idle cell; 0 elsewhere). */
export const idleOf = (c) => c.idle ?? 0;

/**
 * Where an unload's effects end: when the strategy declared the module gone,
 * or when the module's code last ran if later (the close callbacks of a
 * module declared unloaded while its handles were still closing).
 */
export const windowEnd = (c) => Math.max(c.window.t1, c.lastCb?.t ?? c.window.t1);

/**
 * @param {object} host   the host's result (host.mjs)
 * @param {Float64Array} rows  the client's rows [due, sent, recv] (µs)
 * @param {object} plan
 */
export function analyze(host, rows, plan) {
  const n = rows.length / 3;
  const guardUs = plan.guardMs * 1e3;
  const cycles = host.cycles;

  // Baseline: every baseline segment of the run, but those of the idle cell
  // (the host held its idle handles then), which are the idle cell's own.
  const baselineOf = (segments, latenessKey) => {
    const base = [];
    let baseUnanswered = 0;
    let baseCpu = 0;
    let baseWall = 0;
    for (const c of segments) {
      baseUnanswered += inside(rows, n, c.baseline.t0, c.baseline.t1, base);
      baseCpu += c.baseline.cpuUs;
      baseWall += c.baseline.t1 - c.baseline.t0;
    }
    return {
      segments: segments.length,
      seconds: baseWall / 1e6,
      latency: latencyStats(base, baseUnanswered),
      cpuPct: baseWall > 0 ? (100 * baseCpu) / baseWall : null,
      lateness: host.eld.byKey[latenessKey] ?? { samples: 0 },
    };
  };
  const baseline = baselineOf(
    cycles.filter((c) => idleOf(c) === 0),
    'baseline',
  );
  const idleCycles = cycles.filter((c) => idleOf(c) > 0);
  const idleBaseline = idleCycles.length === 0 ? null : baselineOf(idleCycles, 'baseline-idle');

  // The client's own lateness (sent - due), over the whole run.
  const lag = [];
  for (let i = 0; i < n; i += 1) lag.push(rows[3 * i + 1] - rows[3 * i]);
  const clientLag = summary(lag);

  // Per cycle, then per group.
  const groups = new Map();
  for (const c of cycles) {
    const values = [];
    const unanswered = overlapping(rows, n, c.window.t0, windowEnd(c) + guardUs, values);
    const key = groupKey(c);
    let g = groups.get(key);
    if (g === undefined) {
      g = { strategy: c.strategy, K: c.K, P: c.P, waitMs: c.waitMs, idle: idleOf(c), cycles: [], values: [], unanswered: 0 };
      groups.set(key, g);
    }
    g.cycles.push(c);
    for (const v of values) g.values.push(v);
    g.unanswered += unanswered;
  }

  const out = [];
  for (const g of groups.values()) {
    const cs = g.cycles;
    const cpu = cs.reduce((s, c) => s + c.window.cpuUs, 0);
    const wall = cs.reduce((s, c) => s + (c.window.t1 - c.window.t0), 0);
    const detections = cs.filter((c) => c.detect && c.lastCb);
    const draining = cs.filter((c) => c.detect && c.cleanupDone && c.detect.t > c.cleanupDone.t);
    const drainCpu = draining.reduce((s, c) => s + (c.detect.cpuUs - c.cleanupDone.cpuUs), 0);
    const drainWall = draining.reduce((s, c) => s + (c.detect.t - c.cleanupDone.t), 0);
    const detectUs = detections.map((c) => c.detect.t - c.lastCb.t);
    const polls = detections.map((c) => c.detect.lc - c.lastCb.lc);
    const watcherIters = detections
      .filter((c) => c.detect.wi !== null && c.lastCb.wi !== null && (c.strategy === 'drain' || c.strategy === 'paced'))
      .map((c) => c.detect.wi - c.lastCb.wi);
    const lat = latencyStats(g.values, g.unanswered);
    const lateKey = `window:${g.strategy}:${g.K}:${g.P}:${g.waitMs}${g.idle > 0 ? `:idle${g.idle}` : ''}`;
    const totalP = cs.reduce((s, c) => s + c.P, 0);
    const afterUnload = cs.map((c) => c.callbacksAfterUnload).filter((x) => x !== null && x !== undefined);
    out.push({
      strategy: g.strategy,
      K: g.K,
      P: g.P,
      waitMs: g.waitMs,
      idle: g.idle,
      windows: cs.length,
      latency: lat,
      deltaP99Ms: lat.p99Ms === null || baseline.latency.p99Ms === null ? null : lat.p99Ms - baseline.latency.p99Ms,
      // The idle cell: against its own baseline segments too (the same idle handles held).
      deltaP99OwnMs:
        g.idle === 0 || lat.p99Ms === null || idleBaseline?.latency.p99Ms == null ? null : lat.p99Ms - idleBaseline.latency.p99Ms,
      lateness: host.eld.byKey[lateKey] ?? { samples: 0 },
      unloadMs: summary(cs.map((c) => (c.window.t1 - c.window.t0) / 1e3)),
      lastCallbackMs: summary(cs.filter((c) => c.lastCb).map((c) => (c.lastCb.t - c.window.t0) / 1e3)),
      detection:
        detections.length === 0
          ? null
          : {
              n: detections.length,
              us: summary(detectUs),
              polls: summary(polls),
              noPollBetween: polls.filter((p) => p === 0).length,
              watcherIterations: summary(watcherIters),
            },
      cpuPct: wall > 0 ? (100 * cpu) / wall : null,
      // From the end of cleanup to the drain being noticed: the wait itself.
      drainingCpuPct: drainWall > 0 ? (100 * drainCpu) / drainWall : null,
      drainingMs: draining.length ? drainWall / 1e3 / draining.length : null,
      cpuMsPerUnload: cpu / 1e3 / cs.length,
      commits: { pending: totalP, durable: cs.reduce((s, c) => s + c.durable, 0), lost: cs.reduce((s, c) => s + c.lost, 0) },
      callbacksAfterUnload: afterUnload.length ? afterUnload.reduce((a, b) => a + b, 0) / afterUnload.length : null,
      leftAtReturn: {
        handles: cs.reduce((s, c) => s + c.leftAtReturn.total, 0) / cs.length,
        closing: cs.reduce((s, c) => s + c.leftAtReturn.closing, 0) / cs.length,
        timers: cs.reduce((s, c) => s + c.leftAtReturn.timers, 0) / cs.length,
      },
      loadedCounts: cs[0].load.counts,
      loadMs: summary(cs.map((c) => (c.load.t1 - c.load.t0) / 1e3)),
      deinitCalls: cs.reduce((s, c) => s + (c.deinitCalls ?? 0), 0) / cs.length,
      moduleErrors: cs.reduce((s, c) => s + (c.moduleErrors ? 1 : 0), 0),
      // The unload's budget (ms per loop iteration; null: unpaced) and, for
      // the paced strategies, the coordinator's own duration and the C
      // module's continuations per unload.
      budgetMs: cs[0].budgetMs ?? null,
      coordinatorMs: summary(cs.map((c) => c.coordinatorMs)),
      continuations: summary(cs.map((c) => c.continuations)),
    });
  }
  const order = (s) => STRATEGIES.indexOf(s);
  out.sort((a, b) => a.idle - b.idle || a.waitMs - b.waitMs || a.K - b.K || a.P - b.P || order(a.strategy) - order(b.strategy));

  // Drain detection over every unload of a strategy (the idle cell apart: its figures are its own).
  const detectionOverall = {};
  for (const s of STRATEGIES) {
    const d = cycles.filter((c) => c.strategy === s && idleOf(c) === 0 && c.detect && c.lastCb).map((c) => c.detect.t - c.lastCb.t);
    if (d.length) detectionOverall[s] = summary(d);
  }

  return {
    requests: { sent: n, answered: countAnswered(rows, n), clientLagUs: clientLag },
    baseline,
    idleBaseline,
    idleSetups: host.idleSetups ?? [],
    groups: out,
    detectionOverall,
  };
}

function countAnswered(rows, n) {
  let a = 0;
  for (let i = 0; i < n; i++) if (!Number.isNaN(rows[3 * i + 2])) a++;
  return a;
}

/**
 * Time series for the timeline chart: for each strategy, every unload of its
 * first repetition with some time around it (PRE_MS before the window,
 * POST_MS after it; windows longer than MAX_WINDOW_S are cut there), binned
 * by due time: max and median latency per bin (Infinity: no answer).
 */
export const EXCERPT = { PRE_MS: 100, POST_MS: 150, MAX_WINDOW_S: 2 };

export function timelines(host, rows, plan, binMs = 10) {
  const n = rows.length / 3;
  const binUs = binMs * 1e3;
  const out = {};
  for (const strategy of STRATEGIES) {
    const block = host.cycles.filter((c) => c.strategy === strategy && c.rep === 0 && idleOf(c) === 0);
    if (block.length === 0) continue;
    out[strategy] = {
      binMs,
      excerpts: block.map((c) => {
        const windowS = (c.window.t1 - c.window.t0) / 1e6;
        const shownS = Math.min(windowS, EXCERPT.MAX_WINDOW_S);
        const t0 = c.window.t0 - EXCERPT.PRE_MS * 1e3;
        const t1 = c.window.t0 + shownS * 1e6 + EXCERPT.POST_MS * 1e3;
        const buckets = Array.from({ length: Math.ceil((t1 - t0) / binUs) }, () => []);
        for (let i = lowerBound(rows, n, t0); i < n && rows[3 * i] < t1; i++) {
          const recv = rows[3 * i + 2];
          buckets[Math.floor((rows[3 * i] - t0) / binUs)].push(Number.isNaN(recv) ? Infinity : recv - rows[3 * i]);
        }
        return {
          K: c.K,
          P: c.P,
          waitMs: c.waitMs,
          seconds: (t1 - t0) / 1e6,
          windowStartS: EXCERPT.PRE_MS / 1e3,
          windowS,
          shownS,
          cut: windowS > shownS,
          // module code still running after the strategy declared it gone
          afterS: Math.min(Math.max(0, (windowEnd(c) - c.window.t1) / 1e6), EXCERPT.POST_MS / 1e3),
          max: buckets.map((b) => (b.length ? Math.max(...b) / 1e3 : null)),
          median: buckets.map((b) => (b.length ? quantile(b, 0.5) / 1e3 : null)),
        };
      }),
    };
  }
  return out;
}
