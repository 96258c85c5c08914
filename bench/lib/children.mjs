// Runs a benchmark's workloads under several configurations, one child
// process per sample set (`node <script> --child <config> <workload>`, which
// prints `{"ns":[...]}`), the configurations in rotation so that machine
// noise spreads over all of them; tabulates median and p90 ns per operation
// and the ratio against the first configuration.
import { spawnSync } from 'node:child_process';

import { int, markdownTable, median, num, p90 } from './stats.mjs';

export function compareInChildren({ script, configs, workloads, rounds, names = {}, column = 'configuration' }) {
  const tables = [];
  const results = [];
  for (const [workload, { label }] of Object.entries(workloads)) {
    const ns = Object.fromEntries(configs.map((c) => [c, []]));
    for (let round = 0; round < rounds; round++) {
      for (const config of configs) {
        const child = spawnSync(process.execPath, [script, '--child', config, workload], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        if (child.status !== 0) throw new Error(`child ${config} ${workload} failed: ${child.status}`);
        ns[config].push(...JSON.parse(child.stdout).ns);
      }
    }
    const base = median(ns[configs[0]]);
    const rows = configs.map((config) => {
      const m = median(ns[config]);
      results.push({ workload, config, medianNsPerOp: m, p90NsPerOp: p90(ns[config]), ratio: m / base, samples: ns[config].length });
      return [names[config] ?? config, num(m), num(p90(ns[config])), `${(m / base).toFixed(2)}×`, int(ns[config].length)];
    });
    const header = [column, 'median ns/op', 'p90 ns/op', `vs ${names[configs[0]] ?? configs[0]}`, 'samples'];
    tables.push(`${label}\n\n` + markdownTable(header, rows, ['l', 'r', 'r', 'r', 'r']));
    console.error(`  ${workload}: done`);
  }
  return { tables, results };
}
