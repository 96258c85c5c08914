// Re-renders the unload charts from a results file, without running anything:
//   node bench/unload/charts.mjs bench/results/unload-full.json docs/charts
// writes <dir>/unload-timeline.svg, <dir>/unload-p99.svg and <dir>/unload-paced.svg (what --publish writes).
import fs from 'node:fs';
import path from 'node:path';

import { EXCERPT } from './analyze.mjs';
import { p99Chart, pacedChart, timelineChart } from './svg.mjs';

const [file, dir] = process.argv.slice(2);
if (!file || !dir) {
  console.error('usage: node bench/unload/charts.mjs <unload-*.json> <output dir>');
  process.exit(2);
}
const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
const { meta, plan, result } = doc;
const label = `${plan.mode} run, ${meta.date.slice(0, 10)}, Node ${meta.node}, ${meta.cpus} CPUs (shared)`;
fs.mkdirSync(dir, { recursive: true });
fs.writeFileSync(path.join(dir, 'unload-timeline.svg'), timelineChart(doc.timelines, result.baseline.latency.p99Ms, label, EXCERPT));
fs.writeFileSync(path.join(dir, 'unload-p99.svg'), p99Chart(result.groups.filter((g) => !g.idle), result.baseline.latency.p99Ms, label));
fs.writeFileSync(path.join(dir, 'unload-paced.svg'), pacedChart(result.groups.filter((g) => !g.idle), result.baseline.latency.p99Ms, label, plan.budgetMs));
console.log(`wrote ${['timeline', 'p99', 'paced'].map((c) => path.join(dir, `unload-${c}.svg`)).join(', ')}`);
