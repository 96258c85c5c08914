// Loads the native test fixture (test/fixtures/fixture*.cc, built by
// `npm run build:fixtures`) on this thread and hands it uv-drain's C API.
// The addon knows a handle (and a loop) by its key, the address as one
// number; here keys become the hex ids snapshot() reports, with uv-drain's
// own idOf (src/records.ts), and ids become keys again on the way in.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { capi } from '../dist/index.js';
import { binding } from '../dist/native.js';
import { type HandleKey, idOf, keyOfId } from '../dist/records.js';
import { baselinePerTest, type BaselineHooks, until } from './helpers.js';

export const FIXTURE_PATH = fileURLToPath(
  new URL('./fixtures/build/Release/uv_drain_fixture.node', import.meta.url),
);
/** What snapshot() must report as `module` for the fixture's callbacks. */
export const FIXTURE_REALPATH = fs.realpathSync(FIXTURE_PATH);

// libuv's error codes, as the binding exports them (never retyped).
export const { EINVAL: UV_EINVAL, ENOTSUP: UV_ENOTSUP, EALREADY: UV_EALREADY } = binding.uvErrors;

export type Kind = 'timer' | 'idle' | 'prepare' | 'check' | 'async' | 'poll' | 'tcp';

/** How each raw kind behaves (see start()/stop() in fixtures/fixture_handles.cc). */
export const KINDS: Record<Kind, { activeOnCreate: boolean; stoppable: boolean; hasFd: boolean }> = {
  timer: { activeOnCreate: false, stoppable: true, hasFd: false },
  idle: { activeOnCreate: false, stoppable: true, hasFd: false },
  prepare: { activeOnCreate: false, stoppable: true, hasFd: false },
  check: { activeOnCreate: false, stoppable: true, hasFd: false },
  // uv_async_init starts the handle; it can only be closed.
  async: { activeOnCreate: true, stoppable: false, hasFd: false },
  // one end of a socketpair
  poll: { activeOnCreate: false, stoppable: true, hasFd: true },
  // bound to 127.0.0.1:0 at create, listening after start; cannot stop listening
  tcp: { activeOnCreate: false, stoppable: false, hasFd: true },
};
export const KIND_NAMES = Object.keys(KINDS) as Kind[];

type Loop = 'main' | 'foreign' | null;
type HandleRef = string | 'foreign' | null;
type Owner = string | number | null | undefined;

export interface Fixture {
  setApi(capi: unknown): ApiInfo;
  apiInfo(): ApiInfo;
  loopAddress(): string;
  /** uv_run(loop, UV_RUN_NOWAIT or UV_RUN_ONCE) from inside the current callback: a nested run. */
  runNested(mode: 'nowait' | 'once'): number;
  /** Initialises (does not start) a handle, tagged with `owner` if given; `reuse`: memory of a closed handle. */
  create(kind: Kind, owner?: Owner, reuse?: string): string;
  start(id: string): number;
  stop(id: string): number;
  ref(id: string): number;
  unref(id: string): number;
  send(id: string): number;
  close(id: string, onClose?: (id: string) => void, keepMemory?: boolean): number;
  isLive(id: string): boolean;
  liveIds(): string[];
  fires(id: string): number;
  /** poll: the watched socketpair end; tcp: uv_fileno(); else null. */
  fd(id: string): number | null;
  closeCallbacks(): number;
  pending(): number;
  flushGraveyard(): void;
  fsWrite(path: string, data: string, owner: Owner, cb: (status: number, seen: number[]) => void): number;
  queueWork(
    owner: Owner,
    hold: boolean,
    sleepMs: number,
    cb: (status: number, seen: number, timedOut: boolean) => void,
  ): number;
  workStarted(): number;
  releaseWork(): void;
  offThread(handle: HandleRef, owner: Owner, cb: (results: OffThreadResults) => void): number;
  foreignOpen(): number;
  foreignClose(): number;
  // Thin C API wrappers: every argument goes to C exactly as given.
  owner(loop: Loop, name: string | null, nullOut?: boolean): { rc: number; id: number };
  tag(handle: HandleRef, owner: number): number;
  untag(handle: HandleRef): number;
  ownerOf(handle: HandleRef, nullOut?: boolean): { rc: number; owner: number };
  requestBegin(loop: Loop, owner: number): number;
  requestEnd(loop: Loop, owner: number): number;
  counts(
    loop: Loop,
    owner: number,
    nullOut?: boolean,
  ): { rc: number; total: number; active: number; ref: number; closing: number; requests: number };
  /**
   * What a host does today with a C module (uv_drain_module.h): dlopen, init,
   * cleanup, one deinit, dlclose at once. Crashes the process later if the
   * module left anything on the loop: only for child processes.
   */
  naiveUnload(
    path: string,
    name: string,
    ownerId: number,
  ): { init: number; cleanup: number; deinit: number; dlclose: number };
  /** Calls `uint64_t symbol(void)` ('u64') or `int symbol(void)` ('int') of an already loaded object. */
  moduleQuery(path: string, symbol: string, kind: 'u64' | 'int'): number;
}

export interface ApiInfo {
  version: number;
  size: number;
  headerVersion: number;
  headerSize: number;
}

export interface OffThreadResults {
  owner: number;
  tag: number;
  untag: number;
  ownerOf: number;
  counts: number;
  requestBegin: number;
  requestEnd: number;
  status: number;
}

/** The methods of Fixture that take or give a handle (or loop) id. */
type IdMethods =
  | 'loopAddress' | 'create' | 'start' | 'stop' | 'ref' | 'unref' | 'send' | 'close' | 'isLive' | 'liveIds'
  | 'fires' | 'fd' | 'offThread' | 'tag' | 'untag' | 'ownerOf';
type KeyRef = HandleKey | 'foreign' | null;

/** The addon as it is: those methods with keys where Fixture has ids. */
interface NativeFixture extends Omit<Fixture, IdMethods> {
  loopAddress(): HandleKey;
  create(kind: Kind, owner?: Owner, reuse?: HandleKey): HandleKey;
  start(key: HandleKey): number;
  stop(key: HandleKey): number;
  ref(key: HandleKey): number;
  unref(key: HandleKey): number;
  send(key: HandleKey): number;
  close(key: HandleKey, onClose?: (key: HandleKey) => void, keepMemory?: boolean): number;
  isLive(key: HandleKey): boolean;
  liveIds(): HandleKey[];
  fires(key: HandleKey): number;
  fd(key: HandleKey): number | null;
  offThread(handle: KeyRef, owner: Owner, cb: (results: OffThreadResults) => void): number;
  tag(handle: KeyRef, owner: number): number;
  untag(handle: KeyRef): number;
  ownerOf(handle: KeyRef, nullOut?: boolean): { rc: number; owner: number };
}

/** A handle selector as the addon takes it: 'foreign' and null (or undefined) as they are, an id as its key. */
const keyRef = (handle: HandleRef): KeyRef => (handle == null || handle === 'foreign' ? handle : keyOfId(handle));

/** The addon with ids: every other method is the addon's own (the prototype). */
function withIds(fx: NativeFixture): Fixture {
  const ids: Pick<Fixture, IdMethods> = {
    loopAddress: () => idOf(fx.loopAddress()),
    create: (kind, owner, reuse) => idOf(fx.create(kind, owner, reuse === undefined ? undefined : keyOfId(reuse))),
    start: (id) => fx.start(keyOfId(id)),
    stop: (id) => fx.stop(keyOfId(id)),
    ref: (id) => fx.ref(keyOfId(id)),
    unref: (id) => fx.unref(keyOfId(id)),
    send: (id) => fx.send(keyOfId(id)),
    close: (id, onClose, keepMemory) =>
      fx.close(keyOfId(id), onClose && ((key) => onClose(idOf(key))), keepMemory),
    isLive: (id) => fx.isLive(keyOfId(id)),
    liveIds: () => fx.liveIds().map(idOf),
    fires: (id) => fx.fires(keyOfId(id)),
    fd: (id) => fx.fd(keyOfId(id)),
    offThread: (handle, owner, cb) => fx.offThread(keyRef(handle), owner, cb),
    tag: (handle, owner) => fx.tag(keyRef(handle), owner),
    untag: (handle) => fx.untag(keyRef(handle)),
    ownerOf: (handle, nullOut) => fx.ownerOf(keyRef(handle), nullOut),
  };
  return Object.setPrototypeOf(ids, fx) as Fixture;
}

let loaded: Fixture | undefined;

/** The fixture of this thread, with uv-drain's C API table set. */
export function loadFixture(): Fixture {
  if (loaded === undefined) {
    const fixture = createRequire(import.meta.url)(FIXTURE_PATH) as NativeFixture;
    fixture.setApi(capi);
    loaded = withIds(fixture);
  }
  return loaded;
}

/** Closes `id` and resolves once its close callback has run. */
export function closeHandle(fx: Fixture, id: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const rc = fx.close(id, () => resolve());
    if (rc !== 0) reject(new Error(`close(${id}) returned ${rc}`));
  });
}

/** Closes every fixture handle still open and waits for all close callbacks and requests. */
export async function closeAll(fx: Fixture): Promise<void> {
  fx.releaseWork();
  for (const id of fx.liveIds()) fx.close(id); // UV_EALREADY for closing ones: fine
  await until(() => fx.pending() === 0, 'the fixture to have no handle or request left');
  fx.flushGraveyard();
}

/** Runs the fs chain and resolves with its callback's arguments. */
export function fsWrite(fx: Fixture, path: string, owner: Owner): { done: Promise<{ status: number; seen: number[] }>; rc: number } {
  let resolve!: (v: { status: number; seen: number[] }) => void;
  const done = new Promise<{ status: number; seen: number[] }>((r) => (resolve = r));
  const rc = fx.fsWrite(path, 'uv-drain fixture\n', owner, (status, seen) => resolve({ status, seen }));
  return { done, rc };
}

/** Queues a work item and resolves with its after-work callback's arguments. */
export function queueWork(
  fx: Fixture,
  owner: Owner,
  opts: { hold?: boolean; sleepMs?: number } = {},
): { done: Promise<{ status: number; seen: number; timedOut: boolean }>; rc: number } {
  let resolve!: (v: { status: number; seen: number; timedOut: boolean }) => void;
  const done = new Promise<{ status: number; seen: number; timedOut: boolean }>((r) => (resolve = r));
  const rc = fx.queueWork(owner, opts.hold ?? false, opts.sleepMs ?? 0, (status, seen, timedOut) =>
    resolve({ status, seen, timedOut }),
  );
  return { done, rc };
}

/**
 * baselinePerTest() for a file that makes fixture handles: after each test
 * (and the file's own `tidy`), closes what the test made with the fixture,
 * then checks the loop is back at its baseline.
 */
export function fixtureBaselinePerTest(fx: Fixture, hooks: BaselineHooks = {}): () => Set<string> {
  return baselinePerTest({
    ...hooks,
    async tidy() {
      await hooks.tidy?.();
      await closeAll(fx);
    },
  });
}
