// Hand-written SVG charts for the unload benchmark (no dependencies).
import { LABELS, STRATEGIES } from './analyze.mjs';

export const COLORS = {
  drain: '#1b7837',
  'poll-immediate': '#d95f02',
  'poll-interval': '#7570b3',
  blocking: '#c51b7d',
  abrupt: '#666666',
  'native-drain': '#1f78b4',
  'native-blocking': '#e31a1c',
  paced: '#00a6a6',
  'native-paced': '#6a3d9a',
};

const esc = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const f = (x) => (Math.round(x * 10) / 10).toString();

function logScale(min, max, y0, y1) {
  const a = Math.log10(min);
  const b = Math.log10(max);
  return (v) => {
    const c = Math.min(max, Math.max(min, v));
    return y0 + ((Math.log10(c) - a) / (b - a)) * (y1 - y0);
  };
}

function decades(min, max) {
  const out = [];
  for (let e = Math.round(Math.log10(min)); e <= Math.round(Math.log10(max)); e++) out.push(10 ** e);
  return out;
}

const msLabel = (v) => (v >= 1000 ? `${v / 1000} s` : v >= 1 ? `${v} ms` : `${Math.round(v * 1000)} µs`);

/** The path of a polyline through `pts` ([x, y] or null: a gap). */
function polyline(pts) {
  let d = '';
  let pen = false;
  for (const p of pts) {
    if (p === null) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${f(p[0])} ${f(p[1])}`;
    pen = true;
  }
  return d;
}

/** Whole decades around `values` (and 1), for a log axis. */
function decadeRange(values) {
  const vs = [1, ...values];
  return { min: 10 ** Math.floor(Math.log10(Math.min(...vs))), max: 10 ** Math.ceil(Math.log10(Math.max(...vs))) };
}

/**
 * A panel with a log y axis: title, frame, a grid line and label per decade,
 * K labels under `xOf(k)`, and the baseline as a dashed line when given.
 */
function logPanel(out, { x0, top, width, height, y, range, title, Ks, xOf, baselineMs = null }) {
  out.push(`<text x="${x0}" y="${top - 8}" font-size="12" font-weight="bold">${title}</text>`);
  out.push(`<rect x="${x0}" y="${top}" width="${width}" height="${height}" fill="#fafafa" stroke="#cccccc"/>`);
  for (const d of decades(range.min, range.max)) {
    out.push(`<line x1="${x0}" x2="${x0 + width}" y1="${f(y(d))}" y2="${f(y(d))}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${x0 - 4}" y="${f(y(d) + 3)}" text-anchor="end" font-size="9" fill="#555">${esc(msLabel(d))}</text>`);
  }
  Ks.forEach((K, k) => {
    out.push(`<text x="${f(xOf(k))}" y="${top + height + 16}" text-anchor="middle" font-size="10" fill="#333">K = ${K}</text>`);
  });
  if (baselineMs !== null) {
    out.push(`<line x1="${x0}" x2="${x0 + width}" y1="${f(y(baselineMs))}" y2="${f(y(baselineMs))}" stroke="#000" stroke-dasharray="4 3" stroke-width="0.8"/>`);
  }
}

function header(width, height, title) {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    `<title>${esc(title)}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
  ];
}

/**
 * Latency over time, one row per strategy: each unload of its first
 * repetition with its surroundings (same time scale everywhere), max and
 * median latency per bin; unload windows shaded red.
 */
export function timelineChart(series, baselineP99Ms, meta, excerpt) {
  const strategies = STRATEGIES.filter((s) => series[s]);
  const left = 62;
  const right = 16;
  const plotW = 1100;
  const panelH = 110;
  const gapY = 46;
  const gapX = 6;
  const top = 96;
  const width = left + plotW + right;
  const height = top + strategies.length * (panelH + gapY) + 4;
  const rowSeconds = (s) => series[s].excerpts.reduce((a, e) => a + e.seconds, 0);
  const rowGaps = (s) => (series[s].excerpts.length - 1) * gapX;
  const pxPerS = Math.min(...strategies.map((s) => (plotW - rowGaps(s)) / rowSeconds(s)));
  let maxLat = 1;
  for (const s of strategies)
    for (const e of series[s].excerpts) for (const v of e.max) if (v !== null && Number.isFinite(v)) maxLat = Math.max(maxLat, v);
  const yMin = 0.05;
  const yMax = 10 ** Math.ceil(Math.log10(maxLat));
  const out = header(width, height, 'Request latency over time around module unloads');
  out.push(
    `<text x="${left}" y="20" font-size="14" font-weight="bold">Request latency around each unload (first repetition), one row per strategy; client in another process, open loop</text>`,
    `<text x="${left}" y="37" fill="#444">${esc(meta)} · per ${series[strategies[0]].binMs} ms bin of due time: max (dark) and median (light), log scale · dashed: baseline p99</text>`,
    `<text x="${left}" y="52" fill="#444">red: the unload window (from the unload call to "gone"), shown with ${excerpt.PRE_MS} ms before and ${excerpt.POST_MS} ms after; orange: the module's close callbacks still running after it was declared unloaded;</text>`,
    `<text x="${left}" y="67" fill="#444">windows longer than ${excerpt.MAX_WINDOW_S} s are cut (zigzag); label: K/P (module size / pending commits) and the window's duration; scale ${f(pxPerS)} px/s in every row</text>`,
  );
  strategies.forEach((s, i) => {
    const y0 = top + i * (panelH + gapY);
    const y = logScale(yMin, yMax, y0 + panelH, y0);
    out.push(`<g>`);
    out.push(`<text x="${left}" y="${y0 - 6}" font-size="12" font-weight="bold" fill="${COLORS[s]}">${esc(LABELS[s])}</text>`);
    for (const d of decades(yMin, yMax)) {
      out.push(`<text x="${left - 4}" y="${f(y(d) + 3)}" text-anchor="end" font-size="9" fill="#555">${esc(msLabel(d))}</text>`);
    }
    let xCursor = left;
    series[s].excerpts.forEach((e, k) => {
      const x = (t) => xCursor + t * pxPerS;
      const w = e.seconds * pxPerS;
      out.push(`<rect x="${f(xCursor)}" y="${y0}" width="${f(w)}" height="${panelH}" fill="#fafafa" stroke="#cccccc"/>`);
      for (const d of decades(yMin, yMax)) {
        out.push(`<line x1="${f(xCursor)}" x2="${f(xCursor + w)}" y1="${f(y(d))}" y2="${f(y(d))}" stroke="#e8e8e8"/>`);
      }
      const wx = x(e.windowStartS);
      const ww = Math.max(1.5, e.shownS * pxPerS);
      out.push(`<rect x="${f(wx)}" y="${y0}" width="${f(ww)}" height="${panelH}" fill="#e41a1c" fill-opacity="0.22"/>`);
      if (e.afterS > 0) {
        const ax = e.cut ? wx + ww : x(e.windowStartS + e.windowS);
        out.push(`<rect x="${f(ax)}" y="${y0}" width="${f(Math.max(1.5, e.afterS * pxPerS))}" height="${panelH}" fill="#ff7f00" fill-opacity="0.3"/>`);
      }
      if (e.cut) {
        const zx = wx + ww;
        out.push(`<path d="M${f(zx - 3)} ${y0}l6 8l-6 8l6 8" fill="none" stroke="#b2182b" stroke-width="1.2"/>`);
      }
      const line = (vals, opacity) => {
        let d = '';
        let pen = false;
        vals.forEach((v, b) => {
          if (v === null) {
            pen = false;
            return;
          }
          d += `${pen ? 'L' : 'M'}${f(x((b + 0.5) * (series[s].binMs / 1000)))} ${f(y(Number.isFinite(v) ? v : yMax))}`;
          pen = true;
        });
        if (d) out.push(`<path d="${d}" fill="none" stroke="${COLORS[s]}" stroke-opacity="${opacity}" stroke-width="1"/>`);
      };
      line(e.median, 0.35);
      line(e.max, 0.95);
      if (baselineP99Ms !== null) {
        out.push(`<line x1="${f(xCursor)}" x2="${f(xCursor + w)}" y1="${f(y(baselineP99Ms))}" y2="${f(y(baselineP99Ms))}" stroke="#000" stroke-dasharray="4 3" stroke-width="0.8"/>`);
      }
      const label = e.waitMs > 0 ? `wait ${e.waitMs}ms` : `${short(e.K)}/${short(e.P)}`;
      const dur = e.windowS >= 1 ? `${num1(e.windowS)}s` : `${num1(e.windowS * 1000)}ms`;
      out.push(`<text x="${f(xCursor + 1)}" y="${y0 + panelH + 11}" font-size="8" fill="#333">${esc(label)}</text>`);
      out.push(`<text x="${f(xCursor + 1)}" y="${y0 + panelH + 21}" font-size="8" fill="#b2182b">${esc(dur)}</text>`);
      xCursor += w + gapX;
      void k;
    });
    out.push(`</g>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

const short = (n) => (n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n));
const num1 = (v) => (v >= 100 ? Math.round(v).toString() : v >= 10 ? v.toFixed(1) : v.toFixed(2));

/** p99 request latency during unloads against module size K, one panel per P. */
export function p99Chart(groups, baselineP99Ms, meta) {
  const Ps = [...new Set(groups.filter((g) => g.waitMs === 0).map((g) => g.P))].sort((a, b) => a - b);
  const Ks = [...new Set(groups.filter((g) => g.waitMs === 0).map((g) => g.K))].sort((a, b) => a - b);
  const panelW = 300;
  const panelH = 260;
  const gap = 60;
  const left = 70;
  const top = 64;
  const legendH = 22 * Math.ceil(STRATEGIES.length / 4) + 10;
  const width = Math.max(left + Ps.length * (panelW + gap), left + 4 * 230 + 20);
  const height = top + panelH + 50 + legendH;
  const range = decadeRange([
    ...groups.filter((g) => g.waitMs === 0 && g.latency.p99Ms !== null).map((g) => g.latency.p99Ms),
    ...(baselineP99Ms === null ? [] : [baselineP99Ms]),
  ]);
  const out = header(width, height, 'p99 request latency during unloads against module size');
  out.push(
    `<text x="${left}" y="20" font-size="14" font-weight="bold">p99 request latency during unload windows, by module size K (handles) and pending commits P</text>`,
    `<text x="${left}" y="38" fill="#444">${esc(meta)} · log scale · dashed: baseline p99 of the same run</text>`,
  );
  Ps.forEach((P, i) => {
    const x0 = left + i * (panelW + gap);
    const y = logScale(range.min, range.max, top + panelH, top);
    const x = (k) => x0 + 30 + (Ks.length === 1 ? 0 : (k / (Ks.length - 1)) * (panelW - 60));
    logPanel(out, { x0, top, width: panelW, height: panelH, y, range, title: `P = ${P} pending commits`, Ks, xOf: x, baselineMs: baselineP99Ms });
    STRATEGIES.forEach((s, si) => {
      const pts = Ks.map((K, k) => {
        const g = groups.find((gg) => gg.strategy === s && gg.K === K && gg.P === P && gg.waitMs === 0);
        return g && g.latency.p99Ms !== null ? [x(k) + (si - 3) * 3, y(g.latency.p99Ms)] : null;
      });
      const d = polyline(pts);
      if (d) out.push(`<path d="${d}" fill="none" stroke="${COLORS[s]}" stroke-width="1.6"/>`);
      for (const p of pts) if (p) out.push(`<circle cx="${f(p[0])}" cy="${f(p[1])}" r="3.2" fill="${COLORS[s]}"/>`);
    });
  });
  const ly = top + panelH + 40;
  STRATEGIES.forEach((s, i) => {
    const lx = left + (i % 4) * 230;
    const yy = ly + Math.floor(i / 4) * 22;
    out.push(`<line x1="${lx}" x2="${lx + 22}" y1="${yy}" y2="${yy}" stroke="${COLORS[s]}" stroke-width="2"/>`);
    out.push(`<circle cx="${lx + 11}" cy="${yy}" r="3.2" fill="${COLORS[s]}"/>`);
    out.push(`<text x="${lx + 28}" y="${yy + 4}">${esc(LABELS[s])}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/**
 * Issue 15's chart: p99 request latency during unloads against K, one panel
 * per P, a line per strategy group — paced (the plan's budget), unpaced
 * drain, polling peers, blocking; solid: JS module (setImmediate for the
 * polling peers), dashed: C module (10 ms setInterval). Below, per P: the
 * unload's duration (median), paced against unpaced drain, with the factor.
 */
export const PACED_GROUPS = [
  { name: 'paced', color: '#00a6a6', members: [['paced', ''], ['native-paced', '6 3']] },
  { name: 'unpaced drain', color: '#1b7837', members: [['drain', ''], ['native-drain', '6 3']] },
  { name: 'polling peers', color: '#d95f02', members: [['poll-immediate', ''], ['poll-interval', '6 3']] },
  { name: 'blocking', color: '#c51b7d', members: [['blocking', ''], ['native-blocking', '6 3']] },
];

export function pacedChart(groups, baselineP99Ms, meta, budgetMs) {
  const cellGroups = groups.filter((g) => g.waitMs === 0 && !g.idle);
  const Ps = [...new Set(cellGroups.map((g) => g.P))].sort((a, b) => a - b);
  const Ks = [...new Set(cellGroups.map((g) => g.K))].sort((a, b) => a - b);
  const present = PACED_GROUPS.map((pg) => ({ ...pg, members: pg.members.filter(([s]) => cellGroups.some((g) => g.strategy === s)) })).filter(
    (pg) => pg.members.length > 0,
  );
  const panelW = 300;
  const panelH = 240;
  const durH = 150;
  const gap = 60;
  const left = 70;
  const top = 78;
  const durTop = top + panelH + 64;
  const legendTop = durTop + durH + 44;
  const legendRows = present.reduce((n, pg) => n + pg.members.length, 0);
  const width = Math.max(left + Ps.length * (panelW + gap), 1180);
  const height = legendTop + Math.ceil(legendRows / 2) * 20 + 24;
  const find = (s, K, P) => cellGroups.find((g) => g.strategy === s && g.K === K && g.P === P);
  const range = decadeRange([
    ...cellGroups
      .filter((g) => g.latency.p99Ms !== null && present.some((pg) => pg.members.some(([s]) => s === g.strategy)))
      .map((g) => g.latency.p99Ms),
    ...(baselineP99Ms === null ? [] : [baselineP99Ms]),
  ]);
  const durPairs = [
    ['paced', 'drain'],
    ['native-paced', 'native-drain'],
  ].filter(([p]) => cellGroups.some((g) => g.strategy === p));
  const durStrategies = new Set(durPairs.flat());
  const durRange = decadeRange(cellGroups.filter((g) => durStrategies.has(g.strategy) && g.unloadMs).map((g) => g.unloadMs.median));
  const budget = budgetMs === undefined || budgetMs === null ? 'n/a' : `${budgetMs} ms`;
  const out = header(width, height, 'p99 request latency during unloads against K: paced, unpaced drain, polling peers, blocking');
  out.push(
    `<text x="${left}" y="20" font-size="14" font-weight="bold">p99 request latency during unloads against module size K: paced (budget ${esc(budget)} per loop iteration), unpaced drain, polling peers, blocking</text>`,
    `<text x="${left}" y="38" fill="#444">${esc(meta)} · log scale · dashed black: baseline p99 of the same run · solid: JS module (polling: setImmediate), dashed: C module (polling: 10 ms setInterval)</text>`,
    `<text x="${left}" y="54" fill="#444">below: unload duration (median, unload call to module gone), paced against unpaced drain; label: how many times longer the paced unload took</text>`,
  );
  const xOf = (x0, k) => x0 + 30 + (Ks.length === 1 ? 0 : (k / (Ks.length - 1)) * (panelW - 60));
  Ps.forEach((P, i) => {
    const x0 = left + i * (panelW + gap);
    const y = logScale(range.min, range.max, top + panelH, top);
    const xk = (k) => xOf(x0, k);
    logPanel(out, { x0, top, width: panelW, height: panelH, y, range, title: `P = ${P} pending commits: p99`, Ks, xOf: xk, baselineMs: baselineP99Ms });
    present.forEach((pg, gi) => {
      for (const [s, dash] of pg.members) {
        const pts = Ks.map((K, k) => {
          const g = find(s, K, P);
          return g && g.latency.p99Ms !== null ? [xOf(x0, k) + (gi - 1.5) * 3, y(g.latency.p99Ms)] : null;
        });
        const d = polyline(pts);
        if (d) out.push(`<path d="${d}" fill="none" stroke="${pg.color}" stroke-width="1.7"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
        for (const p of pts) if (p) out.push(`<circle cx="${f(p[0])}" cy="${f(p[1])}" r="${dash ? 2.4 : 3.2}" fill="${dash ? '#ffffff' : pg.color}" stroke="${pg.color}" stroke-width="1.2"/>`);
      }
    });
    // unload duration, paced against unpaced
    const dy = logScale(durRange.min, durRange.max, durTop + durH, durTop);
    logPanel(out, { x0, top: durTop, width: panelW, height: durH, y: dy, range: durRange, title: `P = ${P}: unload duration (median)`, Ks, xOf: xk });
    durPairs.forEach(([p, u], pi) => {
      const dash = pi === 0 ? '' : '6 3';
      for (const [s, color] of [
        [p, PACED_GROUPS[0].color],
        [u, PACED_GROUPS[1].color],
      ]) {
        const pts = Ks.map((K, k) => {
          const g = find(s, K, P);
          return g?.unloadMs ? [xOf(x0, k) + (pi - 0.5) * 4, dy(g.unloadMs.median)] : null;
        });
        const d = polyline(pts);
        if (d) out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.6"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
        for (const pt of pts) if (pt) out.push(`<circle cx="${f(pt[0])}" cy="${f(pt[1])}" r="2.6" fill="${dash ? '#ffffff' : color}" stroke="${color}" stroke-width="1.2"/>`);
      }
      Ks.forEach((K, k) => {
        const a = find(p, K, P);
        const b = find(u, K, P);
        if (!a?.unloadMs || !b?.unloadMs || !(b.unloadMs.median > 0)) return;
        const ratio = a.unloadMs.median / b.unloadMs.median;
        const tx = xOf(x0, k) + 6;
        const ty = dy(a.unloadMs.median) + (pi === 0 ? -6 : 13);
        out.push(`<text x="${f(tx)}" y="${f(ty)}" font-size="9" fill="${PACED_GROUPS[0].color}">×${esc(num1(ratio))}${pi === 0 ? ' JS' : ' C'}</text>`);
      });
    });
  });
  let row = 0;
  present.forEach((pg) => {
    for (const [s, dash] of pg.members) {
      const lx = left + (row % 2) * 420;
      const yy = legendTop + Math.floor(row / 2) * 20;
      out.push(`<line x1="${lx}" x2="${lx + 26}" y1="${yy}" y2="${yy}" stroke="${pg.color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
      out.push(`<circle cx="${lx + 13}" cy="${yy}" r="3" fill="${dash ? '#ffffff' : pg.color}" stroke="${pg.color}" stroke-width="1.2"/>`);
      const budgetNote = s === 'paced' || s === 'native-paced' ? ` (budget ${budget})` : '';
      out.push(`<text x="${lx + 32}" y="${yy + 4}">${esc(`${pg.name}: ${LABELS[s]}${budgetNote}`)}</text>`);
      row++;
    }
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
