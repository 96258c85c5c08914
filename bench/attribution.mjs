// Birth attribution cost (npm run bench:attribution): what owner attribution
// adds to code that makes handles, timers, requests and promises, the
// configurations side by side in one run:
//   none      no hook at all;
//   tracking  trackOwners(true): async_hooks + AsyncLocalStorage (what the
//             coordinator did before attribution by code);
//   code      an UnloadCoordinator with a file module loaded (its code root
//             registered), so every handle, timer and request birth reads the
//             stack to find a module frame (the workloads run in host code, the
//             worst case: the whole stack is scanned and no frame matches);
//   why-is-node-running  its hook (a stack per async resource).
// Each sample is a child process that warms up, then times REPS repetitions;
// ROUNDS children per configuration, in rotation. Figures: median and p90 ns
// per operation over all repetitions, ratio against no hook.
//
// Environment: BENCH_ROUNDS (default 5), BENCH_REPS (default 10). Writes
// bench/results/attribution.json; prints a markdown report.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel } from 'node:worker_threads';

import { compareInChildren } from './lib/children.mjs';
import { machineLines, startRun } from './lib/machine.mjs';
import { promiseHeavy, timeoutHeavy } from './lib/workloads.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const CONFIGS = ['none', 'tracking', 'code', 'why-is-node-running'];

const WORKLOADS = {
  promises: promiseHeavy,
  timeouts: { ...timeoutHeavy, label: 'timer births: 20 000 setTimeout + clearTimeout' },
  requests: {
    label: 'request births: 2 000 fs.stat callbacks, one after the other',
    ops: 2_000,
    run() {
      return new Promise((resolve, reject) => {
        let left = 2_000;
        const next = (err) => (err ? reject(err) : --left === 0 ? resolve() : fs.stat(here, next));
        fs.stat(here, next);
      });
    },
  },
  handles: {
    label: 'handle births: 2 000 MessageChannels opened and closed',
    ops: 2_000,
    async run() {
      for (let i = 0; i < 2_000; i++) {
        const { port1, port2 } = new MessageChannel();
        port1.close();
        port2.close();
      }
      await new Promise(setImmediate);
    },
  },
  servers: {
    label: 'handle births: 200 TCP servers listening and closed',
    ops: 200,
    async run() {
      for (let i = 0; i < 200; i++) {
        const server = net.createServer().listen(0);
        await new Promise((resolve) => server.close(resolve));
      }
    },
  },
};

async function runChild(config, workload) {
  const uv = require('../dist/index.js');
  let coordinator;
  if (config === 'tracking') uv.trackOwners(true);
  else if (config === 'code') {
    coordinator = new uv.UnloadCoordinator();
    await coordinator.load('bench-plugin', path.join(here, 'attribution-plugin', 'index.cjs'));
  } else if (config === 'why-is-node-running') await import('why-is-node-running');
  const work = WORKLOADS[workload];
  for (let i = 0; i < 3; i++) await work.run();
  const ns = [];
  for (let i = 0; i < Number(process.env.BENCH_REPS ?? 10); i++) {
    const t0 = process.hrtime.bigint();
    await work.run();
    ns.push(Number(process.hrtime.bigint() - t0) / work.ops);
  }
  await coordinator?.quit();
  process.stdout.write(JSON.stringify({ ns }) + '\n');
}

if (process.argv[2] === '--child') {
  await runChild(process.argv[3], process.argv[4]);
  process.exit(0);
}

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const run = startRun('npm run bench:attribution');
const { tables, results } = compareInChildren({
  script: fileURLToPath(import.meta.url),
  configs: CONFIGS,
  workloads: WORKLOADS,
  rounds: ROUNDS,
});
const machine = run.finish();
console.log(
  [
    ...machineLines(machine),
    '',
    tables.join('\n\n'),
  ].join('\n'),
);
fs.mkdirSync(path.join(here, 'results'), { recursive: true });
fs.writeFileSync(path.join(here, 'results', 'attribution.json'), JSON.stringify({ machine, results }, null, 2) + '\n');
