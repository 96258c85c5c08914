// Every benchmark of uv-drain (`npm run bench`):
//   1. unload latency (bench/unload/): a host serving a TCP echo while modules
//      are loaded and unloaded with each strategy, measured by a load client
//      in another process;
//   2. accounting (bench/accounting.mjs): ns per handle of the loop readers.
//
//   npm run bench                 full run (about 8 minutes on 2 cores)
//   npm run bench -- --quick      smoke run (under a minute): fewer sizes, 1 repetition
//   options: --only unload|accounting, --reps N, --rate N (requests/s),
//            --publish (copy the three unload SVG charts to docs/charts/)
//
// Unload experiments (environment; each one used is recorded in the JSON's
// plan.overrides, and the markdown says so):
//   BENCH_UNLOAD_CELLS="1000:10000,10000:10000"   only these K:P cells (no
//                                                  wait case, no idle cell)
//   BENCH_UNLOAD_STRATEGIES="paced,drain,poll-immediate"   only these
//                                                  strategies (also in the wait
//                                                  and idle cells)
//   BENCH_UNLOAD_BUDGET_MS=0.25                    the paced strategies' budget
//                                                  (default: the plan's, see
//                                                  bench/unload/run-unload.mjs)
//
// Writes bench/results/ (git-ignored): unload-<mode>.json (machine, date,
// parameters, every figure and every cycle), unload-<mode>.md (tables and
// target verdicts), unload-<mode>-timeline.svg, unload-<mode>-p99.svg,
// unload-<mode>-paced.svg (p99 against K: paced, unpaced, polling, blocking),
// unload-<mode>-requests.f64 (every request: due, sent, answered; float64 µs),
// accounting-<mode>.json / .md. Needs dist/ (npx tsc -p .) and the addon.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { machine, runUnload, uptime } from './unload/run-unload.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const resultsDir = path.join(here, 'results');

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    reps: { type: 'string' },
    rate: { type: 'string' },
    publish: { type: 'boolean', default: false },
  },
});
const mode = args.quick ? 'quick' : 'full';
const only = args.only;
if (only !== undefined && only !== 'unload' && only !== 'accounting') {
  console.error(`--only must be 'unload' or 'accounting', got ${only}`);
  process.exit(2);
}

if (!fs.existsSync(path.join(root, 'dist', 'index.js'))) {
  console.error('dist/ is missing: build it first (npx tsc -p .)');
  process.exit(1);
}
fs.mkdirSync(resultsDir, { recursive: true });
const t0 = process.hrtime.bigint();
const elapsed = () => Number(process.hrtime.bigint() - t0) / 1e9;

function write(name, text) {
  const file = path.join(resultsDir, name);
  fs.writeFileSync(file, text);
  return path.relative(root, file);
}

/** bench/accounting.mjs in its own process; its stdout is its report. */
function runAccounting() {
  const env = { ...process.env };
  if (mode === 'quick') {
    env.BENCH_BUDGET_S = '0.5';
    env.BENCH_SIZES = '10,1000';
  }
  const limitMs = mode === 'quick' ? 60_000 : 300_000;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', path.join(here, 'accounting.mjs')], {
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    const timer = setTimeout(() => process.kill(child.pid, 'SIGKILL'), limitMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`accounting benchmark exited with ${code ?? signal}`));
    });
  });
}

const written = [];
let failed = false;

if (only === undefined || only === 'unload') {
  try {
    const reps = args.reps ? Number(args.reps) : undefined;
    const rate = args.rate ? Number(args.rate) : undefined;
    const { doc, markdown, svgs } = await runUnload(mode, { reps, rate, resultsDir });
    written.push(write(`unload-${mode}.json`, JSON.stringify(doc, null, 1) + '\n'));
    written.push(write(`unload-${mode}.md`, markdown));
    written.push(write(`unload-${mode}-timeline.svg`, svgs.timeline));
    written.push(write(`unload-${mode}-p99.svg`, svgs.p99));
    written.push(write(`unload-${mode}-paced.svg`, svgs.paced));
    if (args.publish) {
      const charts = path.join(root, 'docs', 'charts');
      fs.mkdirSync(charts, { recursive: true });
      fs.writeFileSync(path.join(charts, 'unload-timeline.svg'), svgs.timeline);
      fs.writeFileSync(path.join(charts, 'unload-p99.svg'), svgs.p99);
      fs.writeFileSync(path.join(charts, 'unload-paced.svg'), svgs.paced);
      written.push('docs/charts/unload-timeline.svg', 'docs/charts/unload-p99.svg', 'docs/charts/unload-paced.svg');
    }
    console.log('\n' + markdown);
  } catch (error) {
    failed = true;
    console.error('unload benchmark failed:', error);
  }
}

if (!failed && (only === undefined || only === 'accounting')) {
  try {
    const loadBefore = uptime();
    const started = new Date().toISOString();
    const text = await runAccounting();
    const meta = { benchmark: 'accounting', date: started, ...machine(), loadBefore, loadAfter: uptime() };
    const params = {
      mode,
      BENCH_BUDGET_S: mode === 'quick' ? 0.5 : Number(process.env.BENCH_BUDGET_S ?? 25),
      BENCH_SIZES: mode === 'quick' ? '10,1000' : (process.env.BENCH_SIZES ?? '10,1000,10000,100000'),
    };
    written.push(write(`accounting-${mode}.md`, text));
    written.push(write(`accounting-${mode}.json`, JSON.stringify({ meta, parameters: params, report: text }, null, 1) + '\n'));
    console.log(text);
  } catch (error) {
    failed = true;
    console.error(error.message);
  }
}

console.log(`\nwrote ${written.join(', ')} in ${elapsed().toFixed(1)} s`);
if (failed) process.exitCode = 1;
