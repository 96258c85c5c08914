// What a property run does to the loop, one action at a time. Every action
// checks the return code it must give, and updates the model from what the
// test did and from the handles' own callbacks (never from uv-drain).
import { once } from 'node:events';
import * as net from 'node:net';
import * as path from 'node:path';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { capabilities, countsFor, snapshot, withOwner } from '../../dist/index.js';
import { binding } from '../../dist/native.js';
import { KINDS, UV_EALREADY, UV_EINVAL, UV_ENOTSUP, type Fixture, type Kind } from '../fixture.js';
import { LoopModel, describeHandle, type ModelHandle } from './model.js';
import {
  DRAIN_TURNS,
  DrainTracker,
  InvariantError,
  checkInvariants,
  expectBaseline,
  expectDrainsSettle,
  turn,
  turnUntil,
  type CheckContext,
} from './oracle.js';

export type TimerKind = 'soon' | 'long' | 'immediate';

interface TimerRec {
  owner: string;
  kind: TimerKind;
  done: boolean;
  handle: NodeJS.Timeout | NodeJS.Immediate;
}

interface PortPair {
  owner: string;
  ports: [MessagePort, MessagePort];
  handles: [ModelHandle, ModelHandle];
}

interface ServerRec {
  owner: string;
  server: net.Server;
  handle: ModelHandle;
}

/** At most this many work items block thread-pool threads at once (the pool has 4). */
const MAX_HELD = 2;

export class World {
  readonly model: LoopModel;
  readonly drains: DrainTracker;
  readonly ownerIds = new Map<string, number>();
  readonly ctx: CheckContext;
  readonly baseline: Set<string>;
  /** Closes a live handle now (for chains and cleanup), by model key. */
  private readonly closers = new Map<number, () => void>();
  /** Addresses of closed fixture handles whose memory the fixture kept (their close callback has run). */
  readonly graveyard: string[] = [];
  /** Births announced to the addon (as async_hooks would) whose handle has not come yet, oldest first. */
  pendingBirths: { kind: Kind; owner: string }[] = [];
  readonly timers: TimerRec[] = [];
  readonly pairs: PortPair[] = [];
  readonly servers: ServerRec[] = [];
  /** Held work items in flight, per owner (null: unowned). */
  private readonly heldBy = new Map<string | null, number>();
  /** Fixture jobs in flight (work items and fs chains, owned or not). */
  private jobs = 0;
  private fsSeq = 0;

  constructor(
    readonly fx: Fixture,
    readonly owners: readonly string[],
    prefix: string,
    private readonly tmpdir: string,
  ) {
    this.baseline = new Set(snapshot().map((h) => h.id));
    this.model = new LoopModel(owners);
    this.drains = new DrainTracker(this.model);
    for (const o of owners) {
      const { rc, id } = fx.owner('main', o);
      if (rc !== 0) throw new Error(`owner(${o}) returned ${rc}`);
      this.ownerIds.set(o, id);
    }
    this.ctx = {
      model: this.model,
      fx,
      ownerIds: this.ownerIds,
      drains: this.drains,
      prefix,
      modules: capabilities.modules,
    };
  }

  check(): void {
    checkInvariants(this.ctx);
  }

  note(step: unknown): void {
    this.model.note(typeof step === 'string' ? step : JSON.stringify(step));
  }

  private expectRc(got: number, want: number, what: string): void {
    if (got !== want) {
      throw new InvariantError(`${what} returned ${got}, want ${want}\n  steps: ${this.model.log.join(' ; ')}`);
    }
  }

  /**
   * In a close callback: the handle has just left the loop, so uv-drain's
   * counts of its owner already match the model (recorded, not thrown:
   * this runs inside a native callback).
   */
  private checkInCallback(owner: string | null, what: string): void {
    if (owner === null) return;
    try {
      const got = countsFor(owner);
      const want = this.model.totals(owner);
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        this.model.violation(`in ${what}: countsFor(${owner}) = ${JSON.stringify(got)}, model ${JSON.stringify(want)}`);
      }
    } catch (error) {
      this.model.violation(`in ${what}: ${String(error)}`);
    }
  }

  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.model.violation(`${what} threw: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  // ------------------------------------------------------ fixture handles ----

  /** A raw handle, tagged at birth (C API through the fixture), or born untagged and tagged right after. */
  createFx(kind: Kind, owner: string | null, tagLater = false, reuse?: string): ModelHandle {
    const id = this.fx.create(kind, tagLater ? null : owner, reuse);
    // An untagged handle is taken by the oldest pending birth of its kind
    // (announced before it), at once: the addon resolves births lazily, so
    // resolve here, while the handle surely is the one after the mark.
    const claim = owner === null ? this.pendingBirths.findIndex((b) => b.kind === kind) : -1;
    if (claim >= 0) {
      owner = this.pendingBirths[claim].owner;
      this.pendingBirths.splice(claim, 1);
      binding.resolveBirths(false);
    }
    if (reuse !== undefined && id !== reuse) {
      throw new InvariantError(`create(${kind}) in the memory of ${reuse} gave ${id}`);
    }
    for (const h of this.model.handles.values()) {
      if (h.addr === id) throw new InvariantError(`create(${kind}) gave the address of live ${describeHandle(h)}`);
    }
    const h = this.model.add({
      source: 'fx',
      type: kind,
      kind,
      owner: tagLater ? null : owner,
      active: KINDS[kind].activeOnCreate,
      ref: true,
      closing: false,
      addr: id,
      started: false,
    });
    this.closers.set(h.key, () => this.closeFx(h));
    if (tagLater && owner !== null) this.tagFx(h, owner);
    return h;
  }

  /** Close then create at once in the same memory (the fixture keeps it): the new handle must not inherit the tag. */
  async closeAndReuse(h: ModelHandle, kind: Kind, owner: string | null): Promise<void> {
    if (h.closing || !this.model.isLive(h)) return;
    this.closeFx(h, { keepMemory: true });
    await turnUntil(this.model, () => !this.model.isLive(h), `the close callback of ${describeHandle(h)}`);
    const [addr] = this.graveyard.splice(this.graveyard.indexOf(h.addr!), 1);
    this.createFx(kind, owner, false, addr);
  }

  /**
   * Truly "close then immediately create", within one closing phase: closes
   * `b`, then `a` keeping its memory. libuv runs close callbacks in reverse
   * order of closing (uv__make_close_pending pushes at the head), so a's
   * callback runs first and b's callback — in the same phase, no prepare
   * callback in between — creates a new handle in a's memory.
   */
  closeAndReuseInCallback(a: ModelHandle, b: ModelHandle, kind: Kind, owner: string | null): void {
    if (a === b || a.closing || b.closing) return;
    const addr = a.addr!;
    this.closeFx(b, {
      then: () => {
        const i = this.graveyard.indexOf(addr);
        if (i < 0) return; // another close order: nothing to reuse yet
        this.graveyard.splice(i, 1);
        this.createFx(kind, owner, false, addr);
      },
    });
    this.closeFx(a, { keepMemory: true });
  }

  /**
   * Announces a birth of `kind` for `owner` the way the async_hooks hook
   * does for a spawn (deferred: it waits until a handle of its kind comes, and
   * the next announcement of its kind drops it), then, with `closeTail`,
   * closes the most recently made live fixture handle (very likely the
   * queue's tail) before any handle comes.
   */
  announce(kind: Kind, owner: string, closeTail: 'no' | 'free' | 'keep'): void {
    this.pendingBirths = this.pendingBirths.filter((b) => b.kind !== kind);
    this.pendingBirths.push({ kind, owner });
    binding.noteBirth(binding.ownerId(owner), binding.typeNames.indexOf(kind), true);
    if (closeTail === 'no') return;
    const open = this.model.fixtureHandles((h) => !h.closing);
    const tail = open[open.length - 1];
    if (tail !== undefined) this.closeFx(tail, { keepMemory: closeTail === 'keep' });
  }

  /** Drops every pending birth (what async_hooks' microtask does once every announced handle exists). */
  dropPendingBirths(): void {
    binding.resolveBirths(true);
    this.pendingBirths = [];
  }

  reuseFromGraveyard(n: number, kind: Kind, owner: string | null): void {
    if (this.graveyard.length === 0) return;
    const [addr] = this.graveyard.splice(n % this.graveyard.length, 1);
    this.createFx(kind, owner, false, addr);
  }

  startFx(h: ModelHandle): void {
    if (h.closing) return; // starting a closing handle is a libuv misuse, not a uv-drain question
    const rc = this.fx.start(h.addr!);
    if (h.kind === 'async') return this.expectRc(rc, UV_ENOTSUP, `start(${describeHandle(h)})`);
    this.expectRc(rc, 0, `start(${describeHandle(h)})`);
    this.model.update(h, { active: true, started: true });
  }

  stopFx(h: ModelHandle): void {
    if (h.closing) return;
    const rc = this.fx.stop(h.addr!);
    if (!KINDS[h.kind!].stoppable) return this.expectRc(rc, UV_ENOTSUP, `stop(${describeHandle(h)})`);
    this.expectRc(rc, 0, `stop(${describeHandle(h)})`);
    this.model.update(h, { active: false });
  }

  /** uv_ref/uv_unref: the flag changes even on a closing handle (libuv's uv__handle_ref/unref). */
  refFx(h: ModelHandle, on: boolean): void {
    this.expectRc(on ? this.fx.ref(h.addr!) : this.fx.unref(h.addr!), 0, `ref(${describeHandle(h)})`);
    this.model.update(h, { ref: on });
  }

  sendFx(h: ModelHandle): void {
    if (h.closing) return;
    this.expectRc(this.fx.send(h.addr!), h.kind === 'async' ? 0 : UV_EINVAL, `send(${describeHandle(h)})`);
  }

  tagFx(h: ModelHandle, owner: string): void {
    const rc = this.fx.tag(h.addr!, this.ownerIds.get(owner)!);
    if (h.closing) return this.expectRc(rc, UV_EINVAL, `tag(closing ${describeHandle(h)})`);
    this.expectRc(rc, 0, `tag(${describeHandle(h)}, ${owner})`);
    this.model.update(h, { owner });
  }

  untagFx(h: ModelHandle): void {
    const rc = this.fx.untag(h.addr!);
    if (h.closing) return this.expectRc(rc, UV_EINVAL, `untag(closing ${describeHandle(h)})`);
    this.expectRc(rc, 0, `untag(${describeHandle(h)})`);
    this.model.update(h, { owner: null });
  }

  /** uv_close now; `then` runs inside the close callback (e.g. closes another handle). */
  closeFx(h: ModelHandle, opts: { keepMemory?: boolean; then?: () => void } = {}): void {
    if (!this.model.isLive(h)) return;
    const addr = h.addr!;
    if (h.closing) {
      this.expectRc(this.fx.close(addr), UV_EALREADY, `close(closing ${describeHandle(h)})`);
      return;
    }
    const rc = this.fx.close(
      addr,
      (id) =>
        this.guard(`close callback of ${describeHandle(h)}`, () => {
          if (id !== addr) this.model.violation(`close callback of ${addr} got id ${id}`);
          this.model.gone(h);
          this.closers.delete(h.key);
          if (opts.keepMemory) this.graveyard.push(addr);
          this.checkInCallback(h.owner, `the close callback of ${describeHandle(h)}`);
          opts.then?.();
        }),
      opts.keepMemory === true,
    );
    this.expectRc(rc, 0, `close(${describeHandle(h)})`);
    this.model.update(h, { closing: true, active: false });
  }

  /** Closes `h`, and `other` from inside h's close callback. */
  closeChain(h: ModelHandle, other: ModelHandle | undefined): void {
    if (h.source !== 'fx') return this.closeAny(h);
    this.closeFx(h, { then: () => other !== undefined && this.closeAny(other) });
  }

  /** Closes `h` from inside the after-work callback of an (unowned) thread-pool job. */
  closeFromWork(h: ModelHandle): void {
    this.jobs++;
    const rc = this.fx.queueWork(null, false, 0, () =>
      this.guard('work callback', () => {
        this.jobs--;
        this.closeAny(h);
      }),
    );
    this.expectRc(rc, 0, 'queueWork(unowned)');
  }

  /** Closes any live, non-closing handle of the run, whatever made it. */
  closeAny(h: ModelHandle): void {
    if (!this.model.isLive(h) || h.closing) return;
    this.closers.get(h.key)?.();
  }

  liveHandles(filter: (h: ModelHandle) => boolean = () => true): ModelHandle[] {
    return [...this.model.handles.values()].filter(filter);
  }

  // ------------------------------------------------------------ requests ----

  requestBegin(owner: string): void {
    this.expectRc(this.fx.requestBegin('main', this.ownerIds.get(owner)!), 0, `request_begin(${owner})`);
    this.model.manualDelta(owner, +1);
  }

  requestEnd(owner: string): void {
    const manual = this.model.manualRequests.get(owner) ?? 0;
    if (manual === 0 && (this.model.jobRequests.get(owner) ?? 0) > 0) return; // would end a job's request
    const rc = this.fx.requestEnd('main', this.ownerIds.get(owner)!);
    if (manual === 0) return this.expectRc(rc, UV_EINVAL, `request_end(${owner}) without a begin`);
    this.expectRc(rc, 0, `request_end(${owner})`);
    this.model.manualDelta(owner, -1);
  }

  /** uv_queue_work counted through the C API; `hold`: blocks until release(). */
  work(owner: string | null, hold: boolean): { done: boolean } {
    const job = { done: false };
    if (hold && this.heldTotal() >= MAX_HELD) hold = false;
    this.jobs++;
    if (hold) this.heldBy.set(owner, (this.heldBy.get(owner) ?? 0) + 1);
    const rc = this.fx.queueWork(owner, hold, 0, (status, seen, timedOut) =>
      this.guard('after-work callback', () => {
        this.jobs--;
        job.done = true;
        if (status !== 0 || timedOut) this.model.violation(`work of ${owner} ended with ${status}/${timedOut}`);
        if (owner === null) return;
        // `seen`: counts().requests in after_work, before its request_end.
        const want = this.model.totals(owner).requests;
        if (seen !== want) this.model.violation(`after-work of ${owner} saw ${seen} requests, model ${want}`);
        this.model.jobDelta(owner, -1);
        this.checkInCallback(owner, `the after-work callback of ${owner}`);
      }),
    );
    this.expectRc(rc, 0, `queueWork(${owner})`);
    if (owner !== null) this.model.jobDelta(owner, +1);
    return job;
  }

  release(): void {
    this.fx.releaseWork();
    this.heldBy.clear();
  }

  private heldTotal(): number {
    let n = 0;
    for (const v of this.heldBy.values()) n += v;
    return n;
  }

  /** open/write/fsync/close of a temp file, each uv_fs_t counted through the C API. */
  fsWrite(owner: string): void {
    const file = path.join(this.tmpdir, `f${++this.fsSeq}`);
    const rc = this.fx.fsWrite(file, 'uv-drain property\n', owner, (status) =>
      this.guard('fs callback', () => {
        this.jobs--;
        if (status !== 0) this.model.violation(`fs chain of ${owner} ended with ${status}`);
        this.model.jobDelta(owner, -1);
        this.checkInCallback(owner, `the fs callback of ${owner}`);
      }),
    );
    this.expectRc(rc, 0, `fsWrite(${owner})`);
    this.jobs++;
    this.model.jobDelta(owner, +1);
  }

  // --------------------------------------------------------- Node handles ----

  /** A MessageChannel born as `owner`: two async handles, active, not referenced. */
  portPair(owner: string): PortPair {
    const { port1, port2 } = withOwner(owner, () => new MessageChannel());
    const mk = () =>
      this.model.add({ source: 'port', type: 'async', owner, active: true, ref: false, closing: false });
    const pair: PortPair = { owner, ports: [port1, port2], handles: [mk(), mk()] };
    pair.ports.forEach((port, i) => {
      const h = pair.handles[i];
      // 'close' is emitted from the port's uv close callback.
      port.once('close', () =>
        this.guard('port close', () => {
          this.model.gone(h);
          this.closers.delete(h.key);
          this.checkInCallback(owner, `the close event of ${describeHandle(h)}`);
        }),
      );
      // Closing one port closes its peer later, at an unobservable moment:
      // always close both at once.
      this.closers.set(h.key, () => this.closePair(pair));
    });
    this.pairs.push(pair);
    return pair;
  }

  refPort(pair: PortPair, end: number, on: boolean): void {
    const h = pair.handles[end % 2];
    if (!this.model.isLive(h) || h.closing) return;
    const port = pair.ports[end % 2];
    if (on) port.ref();
    else port.unref();
    this.model.update(h, { ref: on });
  }

  closePair(pair: PortPair): void {
    for (let i = 0; i < 2; i++) {
      const h = pair.handles[i];
      if (!this.model.isLive(h) || h.closing) continue;
      pair.ports[i].close();
      this.model.update(h, { closing: true, active: false });
    }
  }

  /** A net server listening on 127.0.0.1:0, born as `owner` (its handle is made after a lookup: needs trackOwners(true)). */
  async server(owner: string): Promise<ServerRec> {
    const server = withOwner(owner, () => net.createServer().listen(0, '127.0.0.1'));
    await once(server, 'listening');
    const h = this.model.add({ source: 'server', type: 'tcp', owner, active: true, ref: true, closing: false });
    // net.Server's 'close' comes before the uv close callback: hook the
    // handle wrap's close to learn when the handle has left the loop.
    const wrap = (server as unknown as { _handle: { close(cb?: () => void): void } })._handle;
    const close = wrap.close;
    wrap.close = (cb?: () => void) =>
      close.call(wrap, () => {
        this.guard('server close callback', () => {
          this.model.gone(h);
          this.closers.delete(h.key);
          this.checkInCallback(owner, `the close callback of ${describeHandle(h)}`);
        });
        cb?.();
      });
    const rec: ServerRec = { owner, server, handle: h };
    this.closers.set(h.key, () => this.closeServer(rec));
    this.servers.push(rec);
    return rec;
  }

  refServer(rec: ServerRec, on: boolean): void {
    if (!this.model.isLive(rec.handle) || rec.handle.closing) return;
    if (on) rec.server.ref();
    else rec.server.unref();
    this.model.update(rec.handle, { ref: on });
  }

  closeServer(rec: ServerRec): void {
    if (!this.model.isLive(rec.handle) || rec.handle.closing) return;
    rec.server.close();
    this.model.update(rec.handle, { closing: true, active: false });
  }

  /** A JS timer or immediate born as `owner`: counted in `timers` until it has run or is cleared. */
  timer(owner: string, kind: TimerKind, unref: boolean): TimerRec {
    const rec = { owner, kind, done: false } as TimerRec;
    const fire = () =>
      this.guard('timer callback', () => {
        if (rec.done) return;
        rec.done = true;
        this.model.timerDelta(owner, -1);
      });
    rec.handle = withOwner(owner, () =>
      kind === 'immediate' ? setImmediate(fire) : setTimeout(fire, kind === 'soon' ? 1 : 10_000_000),
    );
    if (unref) rec.handle.unref();
    this.model.timerDelta(owner, +1);
    this.timers.push(rec);
    return rec;
  }

  clearTimer(rec: TimerRec): void {
    if (rec.done) return;
    rec.done = true;
    if (rec.kind === 'immediate') clearImmediate(rec.handle as NodeJS.Immediate);
    else clearTimeout(rec.handle as NodeJS.Timeout);
    this.model.timerDelta(rec.owner, -1);
  }

  // -------------------------------------------------------------- drains ----

  /**
   * Lets go of everything of `owner` and waits for whenDrained(owner): it
   * must resolve within a bounded number of loop turns once the model is
   * drained.
   */
  async drainOwner(owner: string): Promise<void> {
    const mine = (o: string | null) => o === owner;
    this.letGo(mine);
    const d = this.drains.watch(owner, false);
    // Handles born in callbacks meanwhile are let go of as they appear.
    await turnUntil(
      this.model,
      () => (this.letGo(mine), this.model.isDrained(owner)),
      `owner ${owner} to let go of everything`,
    );
    // Once drained, it must resolve within DRAIN_TURNS loop turns (counted, not timed).
    for (let i = 0; i <= DRAIN_TURNS && d.state === 'pending'; i++) await turn(this.model);
    this.drains.check(this.model);
    if (d.state === 'pending') {
      throw new InvariantError(`whenDrained(${owner}) did not resolve after the owner drained\n  steps: ${this.model.log.join(' ; ')}`);
    }
  }

  /** Closes handles, ends requests, clears timers and releases held work of the owners `which` selects. */
  letGo(which: (owner: string | null) => boolean): void {
    for (const h of this.liveHandles((h) => !h.closing && which(h.owner))) this.closeAny(h);
    for (const [owner, n] of [...this.model.manualRequests]) {
      if (which(owner)) for (let i = 0; i < n; i++) this.requestEnd(owner);
    }
    for (const t of this.timers) if (which(t.owner) && !t.done) this.clearTimer(t);
    if ([...this.heldBy.keys()].some(which)) this.release();
  }

  /** Settles: no closing handle, no job in flight except held ones. */
  async settle(): Promise<void> {
    await turnUntil(
      this.model,
      () =>
        this.liveHandles((h) => h.closing).length === 0 && this.jobs <= this.heldTotal(),
      'closing handles and unheld jobs to finish',
    );
  }

  /**
   * The end of every passing run: lets go of everything,
   * waits until it has all left the loop, checks that every pending
   * whenDrained resolved and that the loop is back at its baseline.
   */
  async finish(): Promise<void> {
    this.dropPendingBirths();
    this.letGo(() => true);
    // Handles nobody owns in the model (untagged fixture handles) too.
    for (const h of this.liveHandles((h) => !h.closing)) this.closeAny(h);
    this.release();
    // Handles born in callbacks meanwhile (a reuse inside a close callback) are closed as they appear.
    const closeNewcomers = () => {
      for (const h of this.liveHandles((h) => !h.closing)) this.closeAny(h);
    };
    await turnUntil(
      this.model,
      () => (closeNewcomers(), this.model.handles.size === 0 && this.model.empty() && this.jobs === 0),
      'the run to let go of everything',
    );
    await turnUntil(this.model, () => this.fx.pending() === 0, 'the fixture to have nothing left');
    this.fx.flushGraveyard();
    this.graveyard.length = 0;
    await expectDrainsSettle(this.model, this.drains);
    await expectBaseline(this.model, this.baseline);
  }

  /** Best effort after a failure: release and close whatever is left so that the next run starts clean. */
  async abandon(): Promise<void> {
    try {
      this.dropPendingBirths();
      this.release();
      for (const d of this.drains.drains) this.drains.abort(d);
      this.letGo(() => true);
      for (const h of this.liveHandles((h) => !h.closing)) this.closeAny(h);
      await turnUntil(
        this.model,
        () => {
          for (const h of this.liveHandles((h) => !h.closing)) this.closeAny(h);
          return this.fx.pending() === 0 && this.model.handles.size === 0;
        },
        'cleanup',
        5_000,
      );
    } catch {
      // the failure itself is what gets reported
    }
    try {
      for (const id of this.fx.liveIds()) this.fx.close(id);
      this.fx.flushGraveyard();
    } catch {
      // ditto
    }
  }
}

export { turn, turnUntil };
