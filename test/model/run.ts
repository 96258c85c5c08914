// Shared scaffolding of the property suites: seeds, run budgets, one run.
import fc from 'fast-check';
import { binding } from '../../dist/native.js';
import type { Fixture } from '../fixture.js';
import { World } from './world.js';

/**
 * The seed of a suite: UVD_PROP_SEED overrides every suite's default (to
 * replay a failure, take the seed and path fast-check prints).
 */
export function seedOf(defaultSeed: number): number {
  const env = process.env.UVD_PROP_SEED;
  return env === undefined || env === '' ? defaultSeed : Number(env);
}

/** Runs of a suite: UVD_PROP_SCALE multiplies the default (e.g. 10 for a long soak). */
export function runsOf(defaultRuns: number): number {
  const scale = Number(process.env.UVD_PROP_SCALE ?? '1');
  return Math.max(1, Math.round(defaultRuns * (Number.isFinite(scale) && scale > 0 ? scale : 1)));
}

const SHRINK_BUDGET_MS = 60_000;

export interface SuiteStats {
  runs: number;
  steps: number;
  /** Steps run, by kind (`t`). */
  kinds?: Record<string, number>;
  /** Steps checked while the owner index was valid (countsFor read it, not a walk). */
  indexed?: number;
}

/**
 * fc.assert over step sequences: each run gets a fresh World (fresh owners),
 * checks the invariants before the first step and after every step, and
 * ends back at the loop's baseline. Prints the seed first; fast-check's
 * error on failure carries the seed, the path and the shrunk counterexample.
 */
export async function runProperty<S>(opts: {
  name: string;
  fx: Fixture;
  prefix: string;
  tmpdir: string;
  seed: number;
  numRuns: number;
  steps: fc.Arbitrary<S[]>;
  /** Sequences always run first (counterexamples found before: regression checks). */
  examples?: S[][];
  owners?: number;
  /** Per run, before the first step (e.g. owner tracking). */
  setup?: (w: World) => void | Promise<void>;
  apply: (w: World, step: S) => void | Promise<void>;
  /** Per run, after the last step and before World.finish(). */
  teardown?: (w: World) => void | Promise<void>;
  stats: SuiteStats;
}): Promise<void> {
  console.log(`[${opts.name}] fast-check seed ${opts.seed}, ${opts.numRuns} runs (replay: UVD_PROP_SEED=${opts.seed})`);
  let run = 0;
  // Shrinking re-runs failing sequences; a hang-type failure costs seconds per
  // run. After SHRINK_BUDGET_MS of shrinking, further candidates are skipped
  // (counted as passing): fast-check reports the smallest failure found so far.
  let firstFailureAt: number | undefined;
  await fc.assert(
    fc.asyncProperty(opts.steps, async (steps) => {
      if (firstFailureAt !== undefined && performance.now() - firstFailureAt > SHRINK_BUDGET_MS) return;
      run++;
      const owners = Array.from({ length: opts.owners ?? 3 }, (_, i) => `${opts.prefix}${run}:o${i}`);
      const w = new World(opts.fx, owners, opts.prefix, opts.tmpdir);
      let ok = false;
      try {
        await opts.setup?.(w);
        w.check();
        for (const step of steps) {
          w.note(step);
          await opts.apply(w, step);
          w.check();
          opts.stats.steps++;
          if (binding.ownerIndexState().valid) opts.stats.indexed = (opts.stats.indexed ?? 0) + 1;
          const kind = String((step as { t?: unknown }).t);
          (opts.stats.kinds ??= {})[kind] = (opts.stats.kinds[kind] ?? 0) + 1;
        }
        await opts.teardown?.(w);
        await w.finish();
        opts.stats.runs++;
        ok = true;
      } finally {
        if (!ok) {
          firstFailureAt ??= performance.now();
          await w.abandon();
        }
      }
    }),
    { seed: opts.seed, numRuns: opts.numRuns, examples: (opts.examples ?? []).map((e) => [e] as [S[]]) },
  );
  console.log(`[${opts.name}] ${opts.stats.runs} runs, ${opts.stats.steps} steps, every step checked`);
  console.log(`[${opts.name}] steps by kind: ${JSON.stringify(opts.stats.kinds ?? {})}`);
}
