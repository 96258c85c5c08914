// The host-and-plugins program that once crashed birth matching (a queue
// tail closed and freed between a birth's announcement and its resolution),
// run in a child process for many iterations: every plugin's counts exact at
// every iteration, every plugin removed, and the process ending by itself
// with code 0. Under test:asan the child runs the sanitized addon.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('./scripts/attribution-stress.mjs', import.meta.url));
// UVD_STRESS_ITERATIONS=300 npm run test:asan -- test/attribution-stress.test.ts: the long run.
const ITERATIONS = Number(process.env.UVD_STRESS_ITERATIONS ?? 20);

it(`${ITERATIONS} iterations of plugins attributed, released and removed while the host churns its own handles`, () => {
  const child = spawnSync(process.execPath, [SCRIPT, String(ITERATIONS)], { encoding: 'utf8', timeout: 60_000 + ITERATIONS * 5_000 });
  expect(child.stderr).toBe('');
  expect(child.signal).toBeNull();
  expect(child.status).toBe(0);
  expect(child.stdout).toContain(`UVD-STRESS {"iterations":${ITERATIONS}}`);
}, 120_000 + ITERATIONS * 5_000);
