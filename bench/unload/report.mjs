// Markdown tables and target verdicts of the unload benchmark, from the
// figures analyze() computed. Nothing here is hard-coded: every verdict is a
// comparison of measured numbers, printed with them.
import { LABELS, PACED_STRATEGIES, STRATEGIES } from './analyze.mjs';
import { int, markdownTable, num } from '../lib/stats.mjs';

const ms = (v, d = 2) => (v === null || v === undefined ? 'n/a' : num(v, d));
const us = (v) => (v === null || v === undefined ? 'n/a' : int(v));
const pct = (v) => (v === null || v === undefined ? 'n/a' : `${num(v, 1)} %`);
const signed = (v) => (v === null || v === undefined ? 'n/a' : `${v >= 0 ? '+' : ''}${num(v, 2)}`);

/** A group's strategy label, with its budget when it was paced. */
export function labelOf(g) {
  const label = LABELS[g.strategy];
  if (g.budgetMs === null || g.budgetMs === undefined) return label;
  const budget = `budget ${num(g.budgetMs, 2)} ms`;
  // "paced drain (coordinator)" -> "paced drain (coordinator, budget 0.50 ms)"
  return label.endsWith(')') ? `${label.slice(0, -1)}, ${budget})` : `${label} (${budget})`;
}

function find(groups, strategy, K, P, waitMs = 0, idle = 0) {
  return groups.find((g) => g.strategy === strategy && g.K === K && g.P === P && g.waitMs === waitMs && (g.idle ?? 0) === idle);
}

function detectCell(g) {
  const d = g.detection;
  if (d === null) return 'n/a';
  return `${us(d.us.median)} (max ${us(d.us.max)})`;
}

function pollsCell(g) {
  const d = g.detection;
  if (d === null) return 'n/a';
  return `${d.noPollBetween}/${d.n} none; max ${d.polls.max}`;
}

function lostCell(g) {
  return g.commits.pending === 0 ? '0 of 0' : `${int(g.commits.lost)} of ${int(g.commits.pending)}`;
}

function latenessCell(g) {
  const l = g.lateness;
  return l.samples ? `${ms(l.p99Ms)} / ${ms(l.maxMs)}` : 'no sample';
}

export function fullTable(result) {
  const rows = result.groups
    .filter((g) => g.waitMs === 0 && !g.idle)
    .map((g) => [
      labelOf(g),
      int(g.K),
      int(g.P),
      int(g.windows),
      int(g.latency.n),
      ms(g.latency.p50Ms),
      ms(g.latency.p99Ms),
      ms(g.latency.maxMs),
      signed(g.deltaP99Ms),
      latenessCell(g),
      `${ms(g.unloadMs.median)} / ${ms(g.unloadMs.max)}`,
      ms(g.lastCallbackMs?.median),
      detectCell(g),
      pollsCell(g),
      pct(g.cpuPct),
      pct(g.drainingCpuPct),
      lostCell(g),
      g.callbacksAfterUnload === null ? 'n/a' : num(g.callbacksAfterUnload, 0),
    ]);
  return markdownTable(
    [
      'strategy',
      'K',
      'P',
      'unloads',
      'requests in windows',
      'p50 ms',
      'p99 ms',
      'max ms',
      'p99 − baseline p99, ms',
      'loop lateness p99 / max, ms',
      'declared unloaded after, ms (median / max)',
      'last module callback at, ms (median)',
      'drain noticed after, µs (median, max)',
      'polls between last callback and notice',
      'CPU in the window, % of a core',
      'CPU while draining, % of a core',
      'commits lost',
      'module callbacks after "unloaded"',
    ],
    rows,
    ['l', 'r', 'r'],
  );
}

export function headlineTable(result, K, P) {
  const b = result.baseline;
  const rows = STRATEGIES.map((s) => find(result.groups, s, K, P))
    .filter(Boolean)
    .map((g) => [
      labelOf(g),
      `${ms(g.latency.p99Ms)} (${signed(g.deltaP99Ms)})`,
      ms(g.latency.maxMs),
      latenessCell(g),
      ms(g.unloadMs.median, 1),
      ms(g.lastCallbackMs?.median, 1),
      g.detection === null ? 'n/a' : `${us(g.detection.us.median)} µs, ${g.detection.noPollBetween}/${g.detection.n} with no poll between`,
      pct(g.drainingCpuPct),
      lostCell(g),
    ]);
  rows.unshift([
    `*baseline (no unload)*`,
    ms(b.latency.p99Ms),
    ms(b.latency.maxMs),
    b.lateness.samples ? `${ms(b.lateness.p99Ms)} / ${ms(b.lateness.maxMs)}` : 'no sample',
    '',
    '',
    '',
    pct(b.cpuPct),
    '',
  ]);
  return markdownTable(
    [
      'strategy',
      'p99 ms (vs baseline)',
      'max ms',
      'loop lateness p99 / max, ms',
      'declared unloaded after, ms (median)',
      'last module callback at, ms (median)',
      'drain noticed after (median)',
      'CPU while draining, % of a core',
      'commits lost',
    ],
    rows,
    ['l', 'r', 'r'],
  );
}

export function waitTable(result) {
  const rows = result.groups
    .filter((g) => g.waitMs > 0 && !g.idle)
    .map((g) => [
      LABELS[g.strategy],
      int(g.windows),
      ms(g.unloadMs.median, 1),
      pct(g.drainingCpuPct),
      pct(g.cpuPct),
      ms(g.cpuMsPerUnload, 1),
      detectCell(g),
      pollsCell(g),
      ms(g.latency.p99Ms),
    ]);
  return markdownTable(
    [
      'strategy',
      'unloads',
      'unload ms (median)',
      'CPU while draining, % of a core',
      'CPU in the whole window, % of a core',
      'CPU ms per unload',
      'drain noticed after, µs (median, max)',
      'polls between',
      'p99 ms',
    ],
    rows,
    ['l', 'r'],
  );
}

/** The idle cell: the same unloads while the host holds idle handles of nobody. */
export function idleTable(result) {
  const own = result.idleBaseline;
  const rows = result.groups
    .filter((g) => g.idle > 0)
    .map((g) => {
      const plain = find(result.groups, g.strategy, g.K, g.P, g.waitMs);
      return [
        labelOf(g),
        int(g.idle),
        int(g.K),
        int(g.P),
        int(g.windows),
        int(g.latency.n),
        ms(g.latency.p50Ms),
        ms(g.latency.p99Ms),
        ms(g.latency.maxMs),
        signed(g.deltaP99Ms),
        signed(g.deltaP99OwnMs),
        plain ? `${ms(plain.latency.p99Ms)} (${signed(plain.deltaP99Ms)})` : 'n/a',
        latenessCell(g),
        `${ms(g.unloadMs.median)} / ${ms(g.unloadMs.max)}`,
        detectCell(g),
        pct(g.cpuPct),
      ];
    });
  rows.unshift([
    `*baseline with the idle handles*`,
    own ? int(own.segments) + ' segments' : '',
    '',
    '',
    '',
    own ? int(own.latency.n) : '',
    own ? ms(own.latency.p50Ms) : '',
    own ? ms(own.latency.p99Ms) : '',
    own ? ms(own.latency.maxMs) : '',
    own ? signed(own.latency.p99Ms - result.baseline.latency.p99Ms) : '',
    '',
    '',
    own?.lateness.samples ? `${ms(own.lateness.p99Ms)} / ${ms(own.lateness.maxMs)}` : 'no sample',
    '',
    '',
    own ? pct(own.cpuPct) : '',
  ]);
  return markdownTable(
    [
      'strategy',
      'idle handles of nobody',
      'K',
      'P',
      'unloads',
      'requests in windows',
      'p50 ms',
      'p99 ms',
      'max ms',
      'p99 − baseline p99, ms',
      'p99 − idle baseline p99, ms',
      'same cell without idle handles: p99 ms (− baseline)',
      'loop lateness p99 / max, ms',
      'declared unloaded after, ms (median / max)',
      'drain noticed after, µs (median, max)',
      'CPU in the window, % of a core',
    ],
    rows,
    ['l', 'r', 'r'],
  );
}

// ---- paced unload (issue 15) -------------------------------------------------

/** Each paced strategy with its unpaced counterpart (same module, same coordinator, budget Infinity). */
export const PACED_PAIRS = [
  ['paced', 'drain'],
  ['native-paced', 'native-drain'],
];

const POLLING = ['poll-immediate', 'poll-interval'];

/** Column names of the paced table. */
const SHORT = {
  paced: 'JS paced',
  'native-paced': 'C paced',
  drain: 'JS drain',
  'native-drain': 'C drain',
  'poll-immediate': 'poll setImmediate',
  'poll-interval': 'poll 10 ms',
  blocking: 'JS blocking',
  'native-blocking': 'C blocking',
};

/** The paced unload's cost in time against its unpaced counterpart's: "+x ms (×y)". */
function longer(paced, unpaced) {
  const a = paced?.unloadMs?.median;
  const b = unpaced?.unloadMs?.median;
  if (a == null || b == null) return 'n/a';
  return `${signed(a - b)} ms (×${num(a / b, 2)})`;
}

const p99Cell = (g) => (g && g.latency.n > 0 ? `${ms(g.latency.p99Ms)} (${signed(g.deltaP99Ms)})` : 'n/a');

/**
 * Paced against unpaced, polling and blocking at every K and P: p99 (− the
 * run's baseline p99) and the unload's duration, paced against unpaced.
 */
export function pacedTable(result) {
  const g = result.groups.filter((x) => x.waitMs === 0 && !x.idle);
  const cells = [...new Map(g.map((x) => [`${x.K}|${x.P}`, { K: x.K, P: x.P }])).values()];
  const has = (s) => g.some((x) => x.strategy === s);
  const columns = ['paced', 'native-paced', 'drain', 'native-drain', 'poll-immediate', 'poll-interval', 'blocking', 'native-blocking'].filter(has);
  const pairs = PACED_PAIRS.filter(([p]) => has(p));
  const rows = cells.map(({ K, P }) => [
    int(K),
    int(P),
    ...columns.map((s) => p99Cell(find(g, s, K, P))),
    ...pairs.flatMap(([p, u]) => {
      const a = find(g, p, K, P);
      const b = find(g, u, K, P);
      return [`${ms(a?.unloadMs?.median, 1)} / ${ms(b?.unloadMs?.median, 1)}`, longer(a, b)];
    }),
    ...(has('native-paced') ? [ms(find(g, 'native-paced', K, P)?.continuations?.median, 0)] : []),
  ]);
  return markdownTable(
    [
      'K',
      'P',
      ...columns.map((s) => `${SHORT[s]} p99 ms (− baseline)`),
      ...pairs.flatMap(([p, u]) => [`unload ms, ${SHORT[p]} / ${SHORT[u]} (medians)`, `${SHORT[p]} unload − ${SHORT[u]}`]),
      ...(has('native-paced') ? ['C paced: continuations per unload (median)'] : []),
    ],
    rows,
    ['r', 'r'],
  );
}

/** Issue 15's benchmark targets, with the budget stated. */
export function pacedVerdicts(result, plan) {
  const out = [];
  const g = result.groups.filter((x) => x.waitMs === 0 && !x.idle);
  const b = result.baseline;
  const budget = `budget ${num(plan.budgetMs, 2)} ms per iteration`;
  for (const [p, u] of PACED_PAIRS) {
    if (!g.some((x) => x.strategy === p)) continue;
    for (const [K, P, within] of [
      [10000, 10000, 1],
      [1000, 10000, 0.5],
    ]) {
      const x = find(g, p, K, P);
      const base = find(g, u, K, P);
      if (!x || x.latency.n === 0) {
        out.push(`${LABELS[p]} p99 within +${within} ms of the baseline p99 at K = ${int(K)}, P = ${int(P)}: not measured in this run`);
        continue;
      }
      out.push(
        `${LABELS[p]} (${budget}) p99 during unloads within +${within} ms of the baseline p99 at K = ${int(K)}, P = ${int(P)}: ` +
          `${x.deltaP99Ms <= within ? 'met' : 'MISSED'} (p99 ${ms(x.latency.p99Ms)} ms against ${ms(b.latency.p99Ms)} ms, ${signed(x.deltaP99Ms)} ms; ` +
          `${int(x.latency.n)} requests in ${x.windows} unloads; ${LABELS[u]}, unpaced, in the same run: ${p99Cell(base)} ms); ` +
          `unload ${ms(x.unloadMs.median, 1)} ms (median) against ${ms(base?.unloadMs?.median, 1)} ms unpaced: ${longer(x, base)}`,
      );
    }
    const cells = g.filter((x) => x.strategy === p);
    const missed = [];
    let compared = 0;
    for (const x of cells) {
      const peers = POLLING.map((s) => find(g, s, x.K, x.P)).filter((y) => y && y.latency.n > 0);
      if (peers.length === 0 || x.latency.n === 0) continue;
      compared++;
      if (!peers.every((y) => x.latency.p99Ms < y.latency.p99Ms)) {
        missed.push(`K${x.K}/P${x.P} ${ms(x.latency.p99Ms)} against ${peers.map((y) => `${LABELS[y.strategy]} ${ms(y.latency.p99Ms)}`).join(', ')}`);
      }
    }
    if (compared > 0) {
      out.push(
        `${LABELS[p]} (${budget}) p99 lower than both polling peers (unpaced) at every K and P: ` +
          `${missed.length === 0 ? 'met' : 'MISSED'} (${compared - missed.length} of ${compared} cells` +
          `${missed.length ? `; not lower at ${missed.join('; ')}` : ''})`,
      );
    }
  }
  return out;
}

/** Verdicts of the issue's targets, from the figures. */
export function verdicts(result, plan) {
  const out = [];
  const g = result.groups;
  const b = result.baseline;
  const headK = 1000;
  const headP = 10000;
  const head = find(g, 'drain', headK, headP);
  if (head && head.latency.n > 0) {
    out.push(
      `drain p99 during unloads within +1 ms of the baseline p99 at K = ${int(headK)}, P = ${int(headP)}: ` +
        `${head.deltaP99Ms <= 1 ? 'met' : 'MISSED'} (p99 ${ms(head.latency.p99Ms)} ms against ${ms(b.latency.p99Ms)} ms, ` +
        `${signed(head.deltaP99Ms)} ms; ${int(head.latency.n)} requests in ${head.windows} unloads)`,
    );
  } else {
    out.push(`drain p99 at K = ${int(headK)}, P = ${int(headP)}: not measured in this run (${plan.mode})`);
  }
  for (const s of ['drain', 'native-drain', ...PACED_STRATEGIES]) {
    const gs = g.filter((x) => x.strategy === s);
    if (gs.length === 0) continue;
    const lost = gs.reduce((a, x) => a + x.commits.lost, 0);
    const pending = gs.reduce((a, x) => a + x.commits.pending, 0);
    out.push(`${LABELS[s]}: zero commits lost: ${lost === 0 ? 'met' : 'MISSED'} (${int(lost)} lost of ${int(pending)} pending)`);
  }
  for (const s of ['drain', 'native-drain', ...PACED_STRATEGIES]) {
    const gs = g.filter((x) => x.strategy === s && !x.idle && x.detection !== null);
    if (gs.length === 0) continue;
    const n = gs.reduce((a, x) => a + x.detection.n, 0);
    const none = gs.reduce((a, x) => a + x.detection.noPollBetween, 0);
    const medians = gs.map((x) => `${x.waitMs ? `wait ${x.waitMs} ms` : `K${x.K}/P${x.P}`} ${us(x.detection.us.median)}`);
    const overall = result.detectionOverall?.[s];
    const wi = gs
      .map((x) => x.detection.watcherIterations)
      .filter(Boolean)
      .map((x) => x.max);
    out.push(
      `${LABELS[s]}: drain noticed in the first iteration after the module's last callback (no poll in between): ` +
        `${none === n ? 'met' : 'MISSED'} (${none} of ${n} unloads` +
        (wi.length ? `; uv-drain watcher iterations between them at most ${Math.max(...wi)}` : '') +
        `); median under 100 µs: ${overall !== undefined ? `${overall.median < 100 ? 'met' : 'MISSED'} (median ${us(overall.median)} µs, p99 ${us(overall.p99)} µs, max ${us(overall.max)} µs over ${overall.n} unloads; ` : '('}` +
        `medians per cell, µs: ${medians.join(', ')})`,
    );
  }
  const wait = find(g, 'drain', plan.wait?.K, plan.wait?.P, plan.wait?.waitMs);
  if (wait && b.cpuPct !== null) {
    const spin = find(g, 'poll-immediate', plan.wait.K, plan.wait.P, plan.wait.waitMs);
    const ratio = wait.drainingCpuPct / b.cpuPct;
    out.push(
      `drain CPU while draining (end of cleanup to drain noticed; module waiting ${plan.wait.waitMs} ms on a remote ack) within 5 % of the baseline: ` +
        `${ratio <= 1.05 ? 'met' : 'MISSED'} (${pct(wait.drainingCpuPct)} of a core against ${pct(b.cpuPct)}: ` +
        `x${num(ratio, 2)}, ${signed(wait.drainingCpuPct - b.cpuPct)} points; whole unload window ${pct(wait.cpuPct)}` +
        (spin ? `; setImmediate polling while draining: ${pct(spin.drainingCpuPct)}` : '') +
        ')',
    );
  }
  const bl = find(g, 'blocking', headK, headP) ?? g.filter((x) => x.strategy === 'blocking').at(-1);
  if (bl) {
    out.push(
      `blocking at K = ${int(bl.K)}, P = ${int(bl.P)}: p99 ${ms(bl.latency.p99Ms)} ms, max ${ms(bl.latency.maxMs)} ms ` +
        `(baseline p99 ${ms(b.latency.p99Ms)} ms), unload ${ms(bl.unloadMs.median, 1)} ms`,
    );
  }
  for (const idle of ['drain', ...PACED_STRATEGIES].map((s) => g.find((x) => x.strategy === s && x.idle > 0))) {
    if (!idle || idle.latency.n === 0) continue;
    out.push(
      `${labelOf(idle)} with ${int(idle.idle)} idle handles of nobody in the host, K = ${int(idle.K)}, P = ${int(idle.P)}: ` +
        `p99 ${ms(idle.latency.p99Ms)} ms against the baseline p99 ${ms(b.latency.p99Ms)} ms (${signed(idle.deltaP99Ms)} ms) ` +
        `and the idle cell's own baseline p99 ${ms(result.idleBaseline?.latency.p99Ms)} ms (${signed(idle.deltaP99OwnMs)} ms); ` +
        `max ${ms(idle.latency.maxMs)} ms; ${int(idle.latency.n)} requests in ${idle.windows} unloads; unload ${ms(idle.unloadMs.median, 1)} ms (median)` +
        (idle.detection === null
          ? ''
          : `; drain noticed ${us(idle.detection.us.median)} µs after the last callback (median), ` +
            `${idle.detection.noPollBetween} of ${idle.detection.n} with no poll between` +
            (idle.detection.watcherIterations ? `, watcher iterations between at most ${idle.detection.watcherIterations.max}` : '')) +
        ' (figures, no target)',
    );
  }
  out.push(...pacedVerdicts(result, plan));
  const ab = g.filter((x) => x.strategy === 'abrupt' && !x.idle);
  if (ab.length) {
    const lost = ab.reduce((a, x) => a + x.commits.lost, 0);
    const pending = ab.reduce((a, x) => a + x.commits.pending, 0);
    out.push(`abrupt: ${int(lost)} commits lost of ${int(pending)} pending`);
  }
  return out;
}

export function markdownReport(doc) {
  const { meta, plan, result } = doc;
  const b = result.baseline;
  const lines = [];
  lines.push(`# Unload latency (${plan.mode} run)`, '');
  lines.push(
    `- Date: ${meta.date}; Node ${meta.node} (libuv ${meta.uv}), ${meta.platform}; ${meta.cpus} CPUs (${meta.cpuModel}), ${meta.memGiB} GiB`,
    `- Load averages (uptime) before: ${meta.loadBefore}; after: ${meta.loadAfter}. The machine was shared with other work while this ran.`,
    `- Commit files on ${meta.scratchFs}; loop lateness: ${meta.lateness}`,
    `- Parameters: K = ${plan.cells.map((c) => c.K).filter((v, i, a) => a.indexOf(v) === i).join(', ')}; ` +
      `P = ${plan.cells.map((c) => c.P).filter((v, i, a) => a.indexOf(v) === i).join(', ')}; ` +
      `${plan.repetitionsCompleted} of ${plan.reps} repetition(s) completed${plan.stoppedEarly ? ` (stopped early: ${plan.stoppedEarly})` : ''}; ` +
      `client ${plan.rate} requests/s over ${plan.conns} connections; baseline segments ${plan.baselineMs} ms; ` +
      `windows extended by ${plan.guardMs} ms; wait case ${plan.wait ? `${plan.wait.waitMs} ms` : 'off'}; ` +
      `idle cell ${plan.idle ? `${int(plan.idle.handles)} handles of nobody, K = ${int(plan.idle.K)}, P = ${int(plan.idle.P)}` : 'off'}; ` +
      `paced strategies' budget ${plan.budgetMs === undefined ? 'n/a' : `${num(plan.budgetMs, 2)} ms per loop iteration`}` +
      (plan.overrides ? `; overrides (environment): ${Object.entries(plan.overrides).map(([k, v]) => `${k} ${v}`).join(', ')}` : ''),
    `- Requests: ${int(result.requests.sent)} sent, ${int(result.requests.answered)} answered; client lateness (sent − due) ` +
      `median ${us(result.requests.clientLagUs?.median)} µs, p99 ${us(result.requests.clientLagUs?.p99)} µs`,
    `- Run time: ${num(doc.durationS, 1)} s`,
    '',
  );
  lines.push(
    `Baseline (${b.segments} segments${result.idleBaseline ? ', those of the idle cell apart' : ''}, ${num(b.seconds, 1)} s): ${int(b.latency.n)} requests, p50 ${ms(b.latency.p50Ms)} ms, ` +
      `p99 ${ms(b.latency.p99Ms)} ms, max ${ms(b.latency.maxMs)} ms; loop lateness p99 ${ms(b.lateness.p99Ms)} ms, ` +
      `max ${ms(b.lateness.maxMs)} ms; CPU ${pct(b.cpuPct)} of a core.`,
    '',
  );
  const Ks = [...new Set(result.groups.map((x) => x.K))];
  const Ps = [...new Set(result.groups.filter((x) => x.waitMs === 0).map((x) => x.P))];
  const hk = Ks.includes(1000) ? 1000 : Math.max(...Ks);
  const hp = Ps.includes(10000) ? 10000 : Math.max(...Ps);
  lines.push(`## Headline: K = ${int(hk)}, P = ${int(hp)}`, '', headlineTable(result, hk, hp), '');
  lines.push('## Every cell', '', fullTable(result), '');
  if (result.groups.some((x) => x.waitMs > 0)) lines.push('## Waiting on a remote acknowledgement', '', waitTable(result), '');
  if (result.groups.some((x) => x.idle > 0)) {
    const setups = (result.idleSetups ?? [])
      .map((s) => `repetition ${s.rep + 1}: ${int(s.handles)} made in ${ms(s.makeMs, 0)} ms, closed in ${ms(s.closeMs, 0)} ms`)
      .join('; ');
    lines.push(
      '## Idle handles of nobody',
      '',
      `The host also holds ${int(plan.idle.handles)} idle handles owned by nobody (MessageChannel ports, unref'd: one uv_async handle each) ` +
        `while a K = ${int(plan.idle.K)}, P = ${int(plan.idle.P)} module is unloaded; the cell's baseline segments are its own ` +
        `("idle baseline"), not part of the run's baseline. ${setups}.`,
      '',
      idleTable(result),
      '',
    );
  }
  if (result.groups.some((x) => PACED_STRATEGIES.includes(x.strategy))) {
    lines.push(
      '## Paced unload',
      '',
      `The paced strategies are unloaded with a budget of ${num(plan.budgetMs, 2)} ms of loop time per iteration ` +
        `(coordinator.unload(name, { budgetMs: ${plan.budgetMs} })): their modules stop accepting, then close their sockets and timers in slices ` +
        `(JS: ctx.paced(); C: budget_left and continue_later), commits as in drain mode. Every other coordinator strategy is unloaded ` +
        `with budgetMs: Infinity (unpaced). p99 of the requests in the unload windows, and (−) the run's baseline p99 ${ms(b.latency.p99Ms)} ms; ` +
        `unload: from the unload call to the module gone (median).`,
      '',
      pacedTable(result),
      '',
    );
  }
  lines.push('## Targets', '', ...verdicts(result, plan).map((v) => `- ${v}`), '');
  return lines.join('\n');
}
