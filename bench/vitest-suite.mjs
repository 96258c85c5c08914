// What uv-drain/vitest costs a clean HTTP-heavy suite (npm run bench:vitest):
// wall time of `vitest run` on a generated suite of FILES × TESTS HTTP tests,
// with uv-drain/vitest as a setup file and without, in alternation.
//
// The suite is written the way HTTP framework suites are: per file one
// server from beforeAll (closed in afterAll), a keep-alive agent of the
// file's, and tests that fetch JSON, read a streamed body, post a body, go
// through Node's global agent and through the file's agent, and abort a
// request. It lives in a scratch project under the OS temp dir with uv-drain
// installed as a copy in its node_modules (as `npm install` leaves it:
// Vitest then loads it as a dependency, not as project source) and Vitest
// linked from this repository.
//
// Method: ROUNDS runs per configuration, alternating (with, without, with...),
// each a fresh `vitest run` process in the forks pool; figure: the median wall
// time per configuration and their ratio.
//
// Environment: BENCH_ROUNDS (default 5), BENCH_FILES (default 4),
// BENCH_TESTS (tests per file, default 60), BENCH_KEEP (keep the scratch project and
// print its path). Writes bench/results/vitest-suite.json.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { machineLines, startRun } from './lib/machine.mjs';
import { median, num } from './lib/stats.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const FILES = Number(process.env.BENCH_FILES ?? 4);
const TESTS = Number(process.env.BENCH_TESTS ?? 60);

const SHAPES = [
  `const res = await fetch(\`\${base}/json?i=@@\`);
    expect((await res.json()).url).toBe('/json?i=@@');`,
  `const res = await fetch(\`\${base}/stream\`);
    let text = '';
    for await (const chunk of res.body) text += new TextDecoder().decode(chunk);
    expect(text.split('\\n').filter(Boolean)).toHaveLength(3);`,
  `const res = await fetch(\`\${base}/echo\`, { method: 'POST', body: 'x'.repeat(1000) });
    expect(await res.text()).toBe('1000');`,
  `expect(JSON.parse(await get('/global?i=@@')).url).toBe('/global?i=@@');`,
  `expect(JSON.parse(await get('/agent?i=@@', agent)).url).toBe('/agent?i=@@');`,
  `const controller = new AbortController();
    const pending = fetch(\`\${base}/slow\`, { signal: controller.signal });
    setTimeout(() => controller.abort(), 2);
    await expect(pending).rejects.toThrow();`,
];

function specSource(file) {
  const tests = [];
  for (let i = 0; i < TESTS; i++) {
    const body = SHAPES[i % SHAPES.length].replaceAll('@@', `${file}-${i}`);
    tests.push(`  it('request ${i}', async () => {\n    ${body}\n  });`);
  }
  return `import { once } from 'node:events';
import * as http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let server;
let base;
let agent;
beforeAll(async () => {
  agent = new http.Agent({ keepAlive: true });
  server = http.createServer(async (req, res) => {
    if (req.url === '/stream') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      for (let i = 0; i < 3; i++) res.write('chunk ' + i + '\\n');
      res.end();
    } else if (req.url === '/slow') {
      const late = setTimeout(() => res.end('late'), 5000);
      res.on('close', () => clearTimeout(late));
    } else if (req.method === 'POST') {
      let n = 0;
      for await (const chunk of req) n += chunk.length;
      res.end(String(n));
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ url: req.url }));
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = 'http://127.0.0.1:' + server.address().port;
});
afterAll(async () => {
  agent.destroy();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
function get(path, via) {
  return new Promise((resolve, reject) => {
    http.get(base + path, { agent: via }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

describe('http file ${file}', () => {
${tests.join('\n\n')}
});
`;
}

function makeProject() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvd-vitest-bench-'));
  const modules = path.join(dir, 'node_modules');
  const installed = path.join(modules, 'uv-drain');
  fs.mkdirSync(installed, { recursive: true });
  for (const part of ['package.json', 'dist', 'build']) {
    fs.cpSync(path.join(ROOT, part), path.join(installed, part), { recursive: true });
  }
  // uv-drain's own dependencies and Vitest, from this repository.
  for (const name of fs.readdirSync(path.join(ROOT, 'node_modules'))) {
    if (name === '.bin' || name === 'uv-drain') continue;
    fs.symlinkSync(path.join(ROOT, 'node_modules', name), path.join(modules, name));
  }
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'bench-suite', private: true, type: 'module' }));
  for (let f = 0; f < FILES; f++) fs.writeFileSync(path.join(dir, `http-${f}.test.mjs`), specSource(f));
  const config = (setup) =>
    `export default { test: { include: ['*.test.mjs'], pool: 'forks', setupFiles: ${JSON.stringify(setup)} } };\n`;
  fs.writeFileSync(path.join(dir, 'with.config.mjs'), config(['uv-drain/vitest']));
  fs.writeFileSync(path.join(dir, 'without.config.mjs'), config([]));
  return dir;
}

function runVitest(dir, config) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(
      process.execPath,
      [path.join(dir, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--config', config, '--reporter=dot'],
      { cwd: dir, env: { ...process.env, NO_COLOR: '1', CI: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (code !== 0) reject(new Error(`vitest --config ${config} exited with ${code}:\n${output.slice(-3000)}`));
      else resolve(ms);
    });
  });
}

const run = startRun(`npm run bench:vitest (BENCH_ROUNDS=${ROUNDS}, BENCH_FILES=${FILES}, BENCH_TESTS=${TESTS})`);
const dir = makeProject();
const times = { without: [], with: [] };
try {
  await runVitest(dir, 'with.config.mjs'); // warm-up: Vite's caches, the OS's file cache
  await runVitest(dir, 'without.config.mjs');
  for (let round = 0; round < ROUNDS; round++) {
    for (const config of round % 2 === 0 ? ['with', 'without'] : ['without', 'with']) {
      times[config].push(await runVitest(dir, `${config}.config.mjs`));
    }
  }
} finally {
  if (process.env.BENCH_KEEP === undefined) fs.rmSync(dir, { recursive: true, force: true });
  else console.error(`kept ${dir}`);
}
const machine = run.finish();
const without = median(times.without);
const withCheck = median(times.with);
const result = { machine, files: FILES, tests: FILES * TESTS, rounds: ROUNDS, times, medianMs: { without, with: withCheck }, ratio: withCheck / without };
fs.mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
fs.writeFileSync(path.join(ROOT, 'bench', 'results', 'vitest-suite.json'), JSON.stringify(result, null, 2));
console.log(
  [
    `## uv-drain/vitest on a clean suite of ${FILES * TESTS} HTTP tests (${FILES} files)`,
    '',
    ...machineLines(machine),
    '',
    '| setup files | median wall time (ms) | runs (ms) |',
    '| :-- | --: | :-- |',
    `| none | ${num(without)} | ${times.without.map((t) => num(t)).join(', ')} |`,
    `| uv-drain/vitest | ${num(withCheck)} | ${times.with.map((t) => num(t)).join(', ')} |`,
    '',
    `Ratio (with / without): ${num(withCheck / without, 3)}`,
  ].join('\n'),
);
