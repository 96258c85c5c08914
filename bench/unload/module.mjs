// The unload benchmark's JS module: one factory, four modes (one per way a
// host unloads today or with uv-drain). Same handles, same commits, same close
// order in every mode; only what happens to the pending commits, how the
// handles are spread over loop iterations, and who decides that the module is
// gone, differ.
//
// Handles (K >= 4 in all): 1 fs.watch watcher (its own empty directory),
// 1 TCP server on 127.0.0.1, C = (K-2)/4 loopback connections to it (2 sockets
// each: the connecting one and the accepted one), and T = K-2-2C JS timers
// (10 min, never fire during the benchmark). JS timers all share one uv timer:
// uv-drain counts them per owner as `timers`, not as handles.
// With `upstream`, one more socket: a connection to the load client's
// "upstream" server, which acknowledges a flush after `waitMs` (the wait case).
//
// Commits: enqueue(P) accepts P commits that are not durable yet (nothing is
// submitted: the unload starts right after). Commit n is the 9-byte line
// "%08d\n" at offset (n-1)*9, written and then fsync'ed on its own.
//
// Modes:
//  - 'drain': cleanup() closes every handle and writes the commits
//    asynchronously (fs.write then fs.fsync, at most WINDOW in flight: the
//    libuv threadpool's default size); deinit() answers 'again' until the last
//    commit is durable and every handle's close has been seen. Used by the
//    coordinator and by the polling peers.
//  - 'blocking': deinit() closes every handle, then writes and fsyncs every
//    pending commit synchronously (writeSync + fsyncSync), and answers 'done'.
//  - 'abrupt': deinit() closes every handle, drops the pending commits, and
//    answers 'done'.
//  - 'paced' (drain-aware, issue 15; through the coordinator only: it needs
//    the cleanup's ctx): cleanup(ctx) stops accepting at once (watcher, then
//    server.close(): no new connection, its 'close' once the connections are
//    gone), then destroys the sockets and clears the timers through
//    ctx.paced() — as many per loop iteration as the module's share of the
//    unload's budget allows, at least one — and starts the commits as in
//    drain mode. cleanup does not await the paced run: while it waits for a
//    later iteration it is the module's (an owned setImmediate, counted in
//    its `timers`), so the drain cannot be seen before it ends. deinit()
//    answers like drain mode, 'again' also while the paced run is under way.
//    The end of the paced run's last item is noted like a callback (with
//    P = 0 and no socket left to close, it is the module's last code).
// The commit file is closed with closeSync once nothing is in flight.
//
// The module notes the end of every callback that may be its last (a socket's
// 'close', a commit's write/fsync callback, the upstream's answer) in
// `state.lastCb`: process.hrtime in µs, libuv's loop_count (probe), and
// uv-drain's watcher iteration. Callbacks that run after the host declared the
// module unloaded are counted in `state.callbacksAfterUnload`.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const WINDOW = 4;
export const LINE = 9;
const TIMER_MS = 600_000;
const CONNECT_BATCH = 256;

const noop = () => {};

export function composition(K) {
  const C = Math.floor((K - 2) / 4);
  return { watcher: 1, server: 1, connections: C, sockets: 2 * C, timers: K - 2 - 2 * C };
}

export function lineOf(seq) {
  return Buffer.from(`${String(seq).padStart(LINE - 1, '0')}\n`);
}

/**
 * @param {object} o
 * @param {number} o.K
 * @param {'drain'|'blocking'|'abrupt'|'paced'} o.mode
 * @param {string} o.file commit file
 * @param {string} o.watchDir directory for the watcher (created if missing)
 * @param {() => number} o.loopCount libuv loop_count (probe)
 * @param {() => number} o.watchIteration uv-drain's watcher iteration
 * @param {{ port: number, waitMs: number } | null} [o.upstream]
 * @param {() => void} [o.onCleanupDone] called as the last thing cleanup() does
 */
export function createBenchModule({ K, mode, file, watchDir, loopCount, watchIteration, upstream = null, onCleanupDone = noop }) {
  if (!['drain', 'blocking', 'abrupt', 'paced'].includes(mode)) throw new TypeError(`bad mode ${mode}`);
  const { connections: C, timers: T } = composition(K);
  const state = {
    mode,
    P: 0,
    next: 0,
    acked: 0,
    dropped: 0,
    inflight: 0,
    errors: 0,
    callbacks: 0,
    unloaded: false,
    callbacksAfterUnload: 0,
    lastCb: null,
    sockets: 0, // sockets whose 'close' has not been seen
    serverOpen: false,
    watcherOpen: false,
    upstreamOpen: false,
    fileOpen: false,
    pacing: false, // paced mode: the paced close run is under way
    pacedItems: 0, // paced mode: sockets and timers its run had to close
  };
  let fd = -1;
  let server;
  let watcher;
  let up;
  const timers = [];
  const clients = [];
  const accepted = [];
  let cleaning = false;
  let closed = false;

  const now = () => Number(process.hrtime.bigint()) / 1e3;
  function noteCb() {
    state.lastCb = { t: now(), lc: loopCount(), wi: watchIteration() };
    state.callbacks++;
    if (state.unloaded) state.callbacksAfterUnload++;
  }

  function track(socket) {
    state.sockets++;
    socket.setNoDelay(true);
    socket.on('error', noop);
    socket.once('close', () => {
      state.sockets--;
      noteCb();
    });
  }

  function closeFile() {
    if (!state.fileOpen) return;
    state.fileOpen = false;
    fs.closeSync(fd);
  }

  function closeHandles() {
    if (closed) return;
    closed = true;
    // Sockets first: close callbacks run in reverse order of uv_close, so
    // the first socket's 'close' is the last close callback of the module.
    for (const s of clients) s.destroy();
    for (const s of accepted) s.destroy();
    for (const t of timers) clearTimeout(t);
    timers.length = 0;
    watcher.close();
    state.watcherOpen = false;
    server.close(() => {
      state.serverOpen = false;
    });
  }

  // Paced mode: stop accepting at once; the per-item closes go through
  // ctx.paced(), sockets first (same order as closeHandles), then timers.
  function closePaced(ctx) {
    if (closed) return;
    closed = true;
    watcher.close();
    state.watcherOpen = false;
    server.close(() => {
      state.serverOpen = false;
    });
    const items = [...clients, ...accepted, ...timers];
    timers.length = 0;
    state.pacedItems = items.length;
    if (items.length === 0) return;
    const last = items.length - 1;
    state.pacing = true;
    ctx
      .paced(items, (item, i) => {
        if (item instanceof net.Socket) item.destroy();
        else clearTimeout(item);
        if (i === last) {
          state.pacing = false;
          noteCb();
        }
      })
      .catch(() => {
        state.errors++;
        state.pacing = false;
      });
  }

  function commitNext() {
    if (state.next >= state.P) {
      if (state.inflight === 0) closeFile();
      return;
    }
    const seq = ++state.next;
    state.inflight++;
    fs.write(fd, lineOf(seq), 0, LINE, (seq - 1) * LINE, (err, n) => {
      if (err || n !== LINE) {
        state.errors++;
        state.inflight--;
        commitNext();
        noteCb();
        return;
      }
      fs.fsync(fd, (err2) => {
        if (err2) state.errors++;
        else state.acked++;
        state.inflight--;
        commitNext();
        noteCb();
      });
    });
  }

  const drained = () =>
    !state.pacing &&
    state.next >= state.P &&
    state.inflight === 0 &&
    !state.fileOpen &&
    state.sockets === 0 &&
    !state.serverOpen &&
    !state.watcherOpen &&
    !state.upstreamOpen;

  return {
    state,
    enqueue(P) {
      state.P = P;
    },
    async init() {
      fs.mkdirSync(watchDir, { recursive: true });
      fd = fs.openSync(file, 'w');
      state.fileOpen = true;
      server = net.createServer((s) => {
        accepted.push(s);
        track(s);
      });
      server.on('error', noop);
      await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve);
      });
      state.serverOpen = true;
      const { port } = server.address();
      watcher = fs.watch(watchDir, noop);
      watcher.on('error', noop);
      state.watcherOpen = true;
      for (let i = 0; i < T; i++) timers.push(setTimeout(noop, TIMER_MS));
      for (let made = 0; made < C; ) {
        const batch = Math.min(CONNECT_BATCH, C - made);
        const waits = [];
        for (let i = 0; i < batch; i++) {
          const s = net.connect({ port, host: '127.0.0.1' });
          clients.push(s);
          track(s);
          waits.push(
            new Promise((resolve, reject) => {
              s.once('connect', resolve);
              s.once('error', reject);
            }),
          );
        }
        await Promise.all(waits);
        made += batch;
      }
      for (let i = 0; accepted.length < C && i < 10_000; i++) await new Promise((r) => setImmediate(r));
      if (accepted.length < C) throw new Error(`only ${accepted.length} of ${C} connections accepted`);
      if (upstream !== null) {
        up = net.connect({ port: upstream.port, host: '127.0.0.1' });
        track(up);
        state.upstreamOpen = true;
        up.once('close', () => {
          state.upstreamOpen = false;
        });
        await new Promise((resolve, reject) => {
          up.once('connect', resolve);
          up.once('error', reject);
        });
      }
    },
    cleanup(ctx) {
      if ((mode !== 'drain' && mode !== 'paced') || cleaning) return;
      cleaning = true;
      if (mode === 'paced') closePaced(ctx);
      else closeHandles();
      if (up !== undefined) {
        up.once('data', () => {
          up.destroy();
        });
        up.write(`ACK ${upstream.waitMs}\n`);
      }
      for (let i = 0; i < WINDOW; i++) commitNext();
      if (state.P === 0) closeFile();
      onCleanupDone();
    },
    deinit() {
      if (mode === 'drain' || mode === 'paced') return cleaning && drained() ? 'done' : 'again';
      closeHandles();
      if (up !== undefined) up.destroy();
      if (mode === 'blocking') {
        while (state.next < state.P) {
          const seq = ++state.next;
          const n = fs.writeSync(fd, lineOf(seq), 0, LINE, (seq - 1) * LINE);
          if (n !== LINE) {
            state.errors++;
            continue;
          }
          fs.fsyncSync(fd);
          state.acked++;
        }
      } else {
        state.dropped = state.P - state.next;
        state.next = state.P;
      }
      closeFile();
      return 'done';
    },
  };
}

/** Commits durable in `file` for 1..P: slots holding their own line. */
export function countCommits(file, P) {
  let data;
  try {
    data = fs.readFileSync(file);
  } catch {
    return 0;
  }
  let found = 0;
  for (let seq = 1; seq <= P; seq++) {
    const off = (seq - 1) * LINE;
    if (off + LINE > data.length) break;
    if (data.subarray(off, off + LINE).equals(lineOf(seq))) found++;
  }
  return found;
}

export function watchDirFor(dir, name) {
  return path.join(dir, `watch-${name}`);
}
