// Smoke check of `npm run bench` output (.ci/run): every file is there and
// well-formed, every planned cell has its figures. Never checks a timing.
//
//   node bench/unload/check.mjs [quick|full]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const mode = process.argv[2] ?? 'quick';
const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'results');
const problems = [];
const need = (cond, what) => {
  if (!cond) problems.push(what);
};
const read = (name) => {
  try {
    return fs.readFileSync(path.join(dir, name), 'utf8');
  } catch {
    problems.push(`missing bench/results/${name}`);
    return null;
  }
};
const isNum = (v) => typeof v === 'number' && Number.isFinite(v);

// unload JSON
const text = read(`unload-${mode}.json`);
let doc = null;
if (text !== null) {
  try {
    doc = JSON.parse(text);
  } catch (e) {
    problems.push(`unload-${mode}.json is not JSON: ${e.message}`);
  }
}
if (doc !== null) {
  const { meta, plan, result } = doc;
  for (const k of ['date', 'node', 'uv', 'platform', 'cpus', 'cpuModel', 'loadBefore', 'loadAfter', 'lateness'])
    need(meta?.[k] !== undefined && meta[k] !== '', `meta.${k} missing`);
  need(!Number.isNaN(Date.parse(meta?.date)), 'meta.date is not a date');
  need(plan?.mode === mode, `plan.mode is ${plan?.mode}, expected ${mode}`);
  need(plan?.repetitionsCompleted >= 1, 'no repetition completed');
  need(result?.requests?.sent > 0 && result.requests.answered > 0, 'no request answered');
  need(result?.baseline?.latency?.n > 0 && isNum(result.baseline.latency.p99Ms), 'baseline has no latency figures');
  need(isNum(result?.baseline?.cpuPct), 'baseline CPU missing');
  const expected = [];
  for (const c of plan?.cells ?? []) for (const s of plan.strategies) expected.push([s, c.K, c.P, 0, 0]);
  if (plan?.wait) for (const s of plan.waitStrategies) expected.push([s, plan.wait.K, plan.wait.P, plan.wait.waitMs, 0]);
  if (plan?.idle) for (const s of plan.idle.strategies) expected.push([s, plan.idle.K, plan.idle.P, 0, plan.idle.handles]);
  for (const [s, K, P, w, idle] of expected) {
    const g = result?.groups?.find((x) => x.strategy === s && x.K === K && x.P === P && x.waitMs === w && (x.idle ?? 0) === idle);
    const id = `${s} K=${K} P=${P}${w ? ` wait=${w}` : ''}${idle ? ` idle=${idle}` : ''}`;
    if (g === undefined) {
      problems.push(`no figures for ${id}`);
      continue;
    }
    need(g.windows >= plan.repetitionsCompleted, `${id}: ${g.windows} unloads`);
    need(g.latency.n > 0 && isNum(g.latency.p50Ms) && isNum(g.latency.p99Ms) && isNum(g.latency.maxMs), `${id}: no request latency`);
    need(isNum(g.unloadMs?.median), `${id}: no unload duration`);
    need(isNum(g.cpuPct), `${id}: no CPU figure`);
    need(g.commits.pending === P * g.windows && g.commits.durable + g.commits.lost === g.commits.pending, `${id}: commit counts inconsistent`);
    need(g.moduleErrors === 0, `${id}: the module reported errors`);
    const detects = !['blocking', 'abrupt'].includes(s);
    if (detects) need(g.detection !== null && isNum(g.detection.us.median) && isNum(g.detection.polls.max), `${id}: no drain detection figures`);
    if (idle) need(isNum(g.deltaP99OwnMs), `${id}: no p99 against the idle baseline`);
    if (s === 'paced' || s === 'native-paced') need(g.budgetMs === plan.budgetMs, `${id}: budget ${g.budgetMs}, plan ${plan.budgetMs}`);
  }
  if (plan?.idle) {
    need(result?.idleBaseline?.latency?.n > 0 && isNum(result.idleBaseline.latency.p99Ms), 'idle cell: its baseline has no latency figures');
    const setups = result?.idleSetups ?? [];
    need(setups.length >= plan.repetitionsCompleted, `idle cell: ${setups.length} setups`);
    for (const st of setups) {
      need(st.handles === plan.idle.handles && st.ownedAdded === 0, `idle cell: setup of repetition ${st.rep + 1} made ${st.handles} handles, ${st.ownedAdded} owned`);
      need(isNum(st.makeMs) && isNum(st.closeMs), `idle cell: setup of repetition ${st.rep + 1} has no timings`);
    }
  }
}

// markdown and charts
const md = read(`unload-${mode}.md`);
if (md !== null) {
  const paced = (doc?.plan?.strategies ?? []).some((s) => s === 'paced' || s === 'native-paced');
  for (const h of ['# Unload latency', '## Headline', '## Every cell', ...(doc?.plan?.idle ? ['## Idle handles of nobody'] : []), ...(paced ? ['## Paced unload'] : []), '## Targets'])
    need(md.includes(h), `unload-${mode}.md lacks "${h}"`);
  need(/^\| strategy \|/m.test(md), `unload-${mode}.md has no table`);
}
for (const chart of ['timeline', 'p99', 'paced']) {
  const svg = read(`unload-${mode}-${chart}.svg`);
  if (svg === null) continue;
  need(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"') && svg.trimEnd().endsWith('</svg>'), `${chart} SVG not an SVG document`);
  // well-formed enough: every element opened is closed, no stray '&'
  const stack = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    if (m[3] === '/') continue;
    if (m[1] === '') stack.push(m[2]);
    else if (stack.pop() !== m[2]) {
      problems.push(`${chart} SVG: unbalanced </${m[2]}>`);
      break;
    }
  }
  need(stack.length === 0, `${chart} SVG: unclosed elements`);
  need(!/&(?!amp;|lt;|gt;|quot;|#39;)/.test(svg), `${chart} SVG: unescaped &`);
  need(!/NaN|undefined|Infinity/.test(svg), `${chart} SVG: NaN/undefined/Infinity in the output`);
}

// accounting
const acc = read(`accounting-${mode}.json`);
if (acc !== null) {
  try {
    const a = JSON.parse(acc);
    need(typeof a.report === 'string' && a.report.includes('| N (bench) |'), 'accounting report has no table');
    need(a.meta?.node !== undefined, 'accounting meta missing');
  } catch (e) {
    problems.push(`accounting-${mode}.json is not JSON: ${e.message}`);
  }
}

if (problems.length) {
  console.error(`bench output check (${mode}): ${problems.length} problem(s):\n- ${problems.join('\n- ')}`);
  process.exit(1);
}
console.log(`bench output check (${mode}): complete and well-formed`);
