// Invariant checks of a property run, after every step:
//  (a) uv-drain against the model (countsFor, countsByOwner, snapshot, the
//      fixture's owner_of through the C API);
//  (b) uv-drain and the model against Node's diagnostic report
//      (process.report.getReport().libuv, Node's own uv_walk);
//  (c) whenDrained: never resolved while the owner had something alive
//      (checked when it settles), resolved within a bounded number of loop
//      turns once the owner has nothing left.
import { isDeepStrictEqual } from 'node:util';
import { setImmediate as immediate, setTimeout as sleep } from 'node:timers/promises';
import { countsByOwner, countsFor, snapshot, whenDrained, type HandleInfo } from '../../dist/index.js';
import { countsByWalk } from '../../dist/accounting.js';
import { binding } from '../../dist/native.js';
import { FIXTURE_REALPATH, type Fixture } from '../fixture.js';
import { describeHandle, type LoopModel, type ModelHandle, type Totals } from './model.js';

/** Loop turns after which a drained owner's whenDrained must have resolved. */
export const DRAIN_TURNS = 8;

interface ReportHandle {
  type: string;
  address: string;
  is_active: boolean;
  is_referenced?: boolean;
}

// The report's network section enumerates interfaces: not needed here.
(process.report as { excludeNetwork?: boolean }).excludeNetwork = true;

export class InvariantError extends Error {}

function fail(model: LoopModel, what: string, got: unknown, want: unknown): never {
  throw new InvariantError(
    `${what}\n  got:  ${JSON.stringify(got)}\n  want: ${JSON.stringify(want)}\n  steps: ${model.log.join(' ; ')}`,
  );
}

function eq(model: LoopModel, got: unknown, want: unknown, what: string): void {
  if (!isDeepStrictEqual(got, want)) fail(model, what, got, want);
}

export interface CheckContext {
  model: LoopModel;
  fx: Fixture;
  /** C API ids of the run's owners. */
  ownerIds: Map<string, number>;
  drains: DrainTracker;
  /** Prefix of every owner name of this suite: no other owner of it may show up. */
  prefix: string;
  /** Whether snapshot()'s `module` of fixture handles is checked (capabilities.modules). */
  modules: boolean;
}

/** Everything, now. Throws InvariantError on the first mismatch. */
export function checkInvariants(ctx: CheckContext): void {
  const { model } = ctx;
  if (model.violations.length > 0) {
    throw new InvariantError(`${model.violations.join('\n')}\n  steps: ${model.log.join(' ; ')}`);
  }

  // (a) per-owner counts, exact.
  const byOwner = countsByOwner();
  for (const owner of model.owners) {
    const want = model.totals(owner);
    eq(model, countsFor(owner), want, `countsFor(${owner})`);
    // The owner index (what countsFor reads once it is valid) against a walk of the whole loop.
    eq(model, countsByWalk(owner), want, `countsByWalk(${owner})`);
    const drained = isZero(want);
    eq(model, byOwner[owner], drained ? undefined : want, `countsByOwner()[${owner}]`);
  }
  for (const name of Object.keys(byOwner)) {
    if (name.startsWith(ctx.prefix) && !model.owners.includes(name)) {
      fail(model, `countsByOwner() has an owner of another run: ${name}`, byOwner[name], undefined);
    }
  }

  // (b) snapshot, report, snapshot in one synchronous block: the loop does
  // not turn, so no handle leaves; by address before ⊆ report ⊆ after.
  const before = snapshot();
  const report = (process.report.getReport() as unknown as { libuv: ReportHandle[] }).libuv.filter(
    (e) => e.type !== 'loop',
  );
  const after = snapshot();
  const reportByAddr = new Map(report.map((e) => [e.address, e]));
  const afterIds = new Set(after.map((h) => h.id));
  for (const h of before) {
    if (!reportByAddr.has(h.id)) fail(model, `snapshot() has ${h.id} (${h.type}) that the report lacks`, h, null);
  }
  for (const e of report) {
    if (!afterIds.has(e.address)) fail(model, `the report has ${e.address} (${e.type}) that snapshot() lacks`, e, null);
  }
  // Same order: both are uv_walk order (creation order).
  const reportOrder = report.map((e) => e.address).filter((a) => before.some((h) => h.id === a));
  eq(model, before.map((h) => h.id), reportOrder, 'snapshot() order vs the report order');
  const afterById = new Map(after.map((h) => [h.id, h]));
  for (const h of before) {
    const later = afterById.get(h.id)!;
    if (later.type !== h.type || later.active !== h.active || later.ref !== h.ref || later.closing !== h.closing) {
      continue; // changed by getReport() itself (never seen on Node 20): not comparable
    }
    const e = reportByAddr.get(h.id)!;
    if (e.type !== h.type || e.is_active !== h.active || (e.is_referenced !== undefined && e.is_referenced !== h.ref)) {
      fail(model, `snapshot() and the report disagree on ${h.id}`, h, e);
    }
  }

  // Per owner, from snapshot() and from the report (owner from snapshot()).
  for (const owner of model.owners) {
    const mine = before.filter((h) => h.owner === owner);
    const want = model.totals(owner);
    const fromSnapshot = sum(mine, (h) => h);
    eq(model, fromSnapshot, handleTotals(want), `snapshot() totals of ${owner}`);
    const fromReport = sum(mine, (h) => {
      const e = reportByAddr.get(h.id)!;
      return { active: e.is_active, ref: e.is_referenced ?? h.ref, closing: h.closing };
    });
    eq(model, fromReport, handleTotals(want), `report totals of ${owner}`);
  }

  // Fixture handles one by one: the model knows their addresses.
  const beforeById = new Map(before.map((h) => [h.id, h]));
  for (const m of ctx.model.fixtureHandles()) {
    const s = beforeById.get(m.addr!);
    if (s === undefined) fail(model, `snapshot() lacks ${describeHandle(m)}`, null, m);
    const wantModule = ctx.modules ? expectedModule(m) : s.module;
    eq(
      model,
      { type: s.type, active: s.active, ref: s.ref, closing: s.closing, owner: s.owner, module: s.module },
      { type: m.type, active: m.active, ref: m.ref, closing: m.closing, owner: m.owner, module: wantModule },
      `snapshot() entry of ${describeHandle(m)}`,
    );
    const e = reportByAddr.get(m.addr!)!;
    eq(
      model,
      { type: e.type, active: e.is_active, ref: e.is_referenced ?? m.ref },
      { type: m.type, active: m.active, ref: m.ref },
      `report entry of ${describeHandle(m)}`,
    );
    const wantId = m.owner === null ? 0 : ctx.ownerIds.get(m.owner)!;
    eq(model, ctx.fx.ownerOf(m.addr!), { rc: 0, owner: wantId }, `owner_of(${describeHandle(m)})`);
  }

  // (c) drains.
  ctx.drains.check(model);
}

/** The shared object snapshot() must name for a fixture handle (see snapshot() in the README). */
function expectedModule(m: ModelHandle): string | null {
  if (m.closing || m.kind === 'async' || m.started === true) return FIXTURE_REALPATH;
  return null; // no callback set yet (uv_*_init clears it)
}

function isZero(t: Totals): boolean {
  return Object.values(t).every((v) => v === 0);
}

function handleTotals(t: Totals) {
  return { total: t.total, active: t.active, ref: t.ref, closing: t.closing };
}

function sum(list: HandleInfo[], f: (h: HandleInfo) => { active: boolean; ref: boolean; closing: boolean }) {
  const t = { total: 0, active: 0, ref: 0, closing: 0 };
  for (const h of list) {
    const s = f(h);
    t.total++;
    if (s.active) t.active++;
    if (s.ref) t.ref++;
    if (s.closing) t.closing++;
  }
  return t;
}

// ------------------------------------------------------------ whenDrained ----

export interface Drain {
  owner: string;
  /** Model clock when whenDrained() was called. */
  since: number;
  sinceTick: number;
  state: 'pending' | 'resolved' | 'rejected';
  aborted: boolean;
  controller?: AbortController;
  promise: Promise<unknown>;
}

export class DrainTracker {
  readonly drains: Drain[] = [];

  constructor(private readonly model: LoopModel) {}

  watch(owner: string, abortable: boolean): Drain {
    const model = this.model;
    const controller = abortable ? new AbortController() : undefined;
    const d: Drain = {
      owner,
      since: model.clock,
      sinceTick: model.ticks,
      state: 'pending',
      aborted: false,
      controller,
      promise: Promise.resolve(),
    };
    d.promise = whenDrained(owner, controller ? { signal: controller.signal } : {}).then(
      (result) => {
        d.state = 'resolved';
        if (result.owner !== owner) model.violation(`whenDrained(${owner}) resolved for ${result.owner}`);
        if (!model.drainedSince(owner, d.since)) {
          model.violation(
            `whenDrained(${owner}) resolved although the owner never was drained since the call: ${JSON.stringify(model.totals(owner))}`,
          );
        }
      },
      (error: unknown) => {
        d.state = 'rejected';
        if (!d.aborted || error !== REASON) model.violation(`whenDrained(${owner}) rejected: ${String(error)}`);
      },
    );
    this.drains.push(d);
    return d;
  }

  abort(d: Drain): void {
    if (d.controller === undefined || d.aborted) return;
    d.aborted = true;
    d.controller.abort(REASON);
  }

  pending(): Drain[] {
    return this.drains.filter((d) => d.state === 'pending');
  }

  /** A drained owner's pending whenDrained resolves within DRAIN_TURNS loop turns. */
  check(model: LoopModel): void {
    for (const d of this.drains) {
      if (d.state !== 'pending' || d.aborted) continue;
      const from = model.drainedFromTick(d.owner);
      if (from === undefined) continue;
      const turns = model.ticks - Math.max(from, d.sinceTick);
      if (turns > DRAIN_TURNS) {
        throw new InvariantError(
          `whenDrained(${d.owner}) still pending ${turns} loop turns after the owner drained\n  steps: ${model.log.join(' ; ')}`,
        );
      }
    }
  }
}

const REASON = new Error('aborted by the property test');

// ------------------------------------------------------------ loop turns ----

/** Lets the loop turn `n` times (setImmediate: no dependence on time). */
export async function turn(model: LoopModel, n = 1): Promise<void> {
  for (let i = 0; i < n; i++) {
    await immediate();
    model.tick();
  }
}

/**
 * Turns the loop until `cond()` holds. Thread-pool work may take a while on
 * a loaded machine: after a few immediate turns it sleeps 1 ms per turn.
 * Gives up (throws) only after `maxMs` — a hang, not a timing assumption.
 */
export async function turnUntil(model: LoopModel, cond: () => boolean, what: string, maxMs = 30_000): Promise<void> {
  const started = performance.now();
  for (let i = 0; !cond(); i++) {
    if (performance.now() - started > maxMs) {
      throw new InvariantError(`gave up after ${maxMs} ms waiting for ${what}\n  steps: ${model.log.join(' ; ')}`);
    }
    if (i < 64) await immediate();
    else await sleep(1);
    model.tick();
  }
}

/**
 * Once the model is empty: every pending whenDrained of the run resolves
 * within DRAIN_TURNS turns.
 */
export async function expectDrainsSettle(model: LoopModel, drains: DrainTracker): Promise<void> {
  for (let i = 0; i <= DRAIN_TURNS && drains.pending().some((d) => !d.aborted); i++) await turn(model);
  const stuck = drains.pending().filter((d) => !d.aborted);
  if (stuck.length > 0) {
    throw new InvariantError(
      `whenDrained still pending for ${stuck.map((d) => d.owner).join(', ')} after everything was closed\n  steps: ${model.log.join(' ; ')}`,
    );
  }
  // Aborted ones have rejected by now too.
  await Promise.all(drains.drains.map((d) => d.promise));
  if (model.violations.length > 0) throw new InvariantError(model.violations.join('\n'));
}

/**
 * Back at the loop's baseline: no handle born in the run is left, except
 * Node's own unowned, unreferenced, non-closing ones (its delayed-task timer,
 * stdio). Waits a bounded number of turns for close callbacks (uv-drain's
 * watcher closes its prepare handle once nothing is watched).
 */
export async function expectBaseline(model: LoopModel, baseline: Set<string>): Promise<void> {
  const extra = () => snapshot().filter((h) => !baseline.has(h.id) && (h.owner !== null || h.ref || h.closing));
  for (let i = 0; i < 50 && extra().length > 0; i++) await turn(model);
  const left = extra();
  if (left.length > 0) {
    throw new InvariantError(`not back at baseline: ${JSON.stringify(left)}\n  steps: ${model.log.join(' ; ')}`);
  }
  for (const owner of model.owners) {
    if (!isZero(countsFor(owner))) {
      throw new InvariantError(`owner ${owner} not empty at the end: ${JSON.stringify(countsFor(owner))}`);
    }
  }
}
