// The unload benchmark's load client: a separate process that sends requests
// to the host's TCP echo at a fixed rate (open loop) and records, for every
// request, its scheduled send time, actual send time and answer time (µs of
// CLOCK_MONOTONIC, the clock of process.hrtime in every process).
//
// Open loop: request i is due at t0 + i / rate, whatever happened to earlier
// ones. A timer wakes the client (libuv timers have 1 ms granularity) and it
// sends every request that is due, each stamped with its due time: a host
// that stalls does not slow the sending down, and its stall shows in full in
// latency = answer - due (no coordinated omission). The client's own lateness
// (sent - due) is recorded too.
//
// Requests are 16-byte frames [u32 seq][u32 magic][8 bytes pad] spread over
// `conns` connections (TCP_NODELAY); the host echoes the bytes.
//
// Also serves the "upstream" of the wait case: a line "ACK <ms>" is answered
// "OK" after <ms> milliseconds.
//
// Started by bench/run.mjs with an IPC channel:
//   argv: --port <echo port> --rate <req/s> --conns <n> --max-seconds <s> --out <file>
//   -> { type: 'ready', upstreamPort }   <- { type: 'start' }   <- { type: 'stop' }
//   -> { type: 'done', file, count, answered, ... }
// Bounded: it stops sending at 'stop', at --max-seconds, or when the parent
// goes away; it waits at most 5 s for answers, writes its file and exits. A
// hard timer exits the process 30 s after --max-seconds whatever happens.
import fs from 'node:fs';
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    rate: { type: 'string', default: '2000' },
    conns: { type: 'string', default: '2' },
    'max-seconds': { type: 'string', default: '900' },
    out: { type: 'string' },
  },
});

const PORT = Number(args.port);
const RATE = Number(args.rate);
const CONNS = Number(args.conns);
const MAX_S = Number(args['max-seconds']);
const OUT = args.out;
if (!(PORT > 0) || !(RATE > 0) || !(CONNS > 0) || !(MAX_S > 0) || !OUT) {
  console.error('client: bad arguments', args);
  process.exit(2);
}

const FRAME = 16;
const MAGIC = 0x75766472;
const MAX_N = Math.ceil(RATE * MAX_S) + 1;
const PERIOD_US = 1e6 / RATE;

const hard = setTimeout(() => {
  console.error('client: hard time limit reached, exiting');
  process.exit(3);
}, (MAX_S + 30) * 1000);
hard.unref();

const now = () => Number(process.hrtime.bigint()) / 1e3;

// One growable set of arrays, sized to what was sent at the end.
let cap = Math.min(MAX_N, 1 << 16);
let due = new Float64Array(cap);
let sent = new Float64Array(cap);
let recv = new Float64Array(cap).fill(NaN);
function grow() {
  const n = Math.min(MAX_N, cap * 2);
  const d = new Float64Array(n);
  const s = new Float64Array(n);
  const r = new Float64Array(n).fill(NaN);
  d.set(due);
  s.set(sent);
  r.set(recv);
  due = d;
  sent = s;
  recv = r;
  cap = n;
}

let t0 = 0;
let next = 0;
let answered = 0;
let sending = false;
let finishing = false;
let tick;
let badFrames = 0;

const sockets = [];
function connect() {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port: PORT, host: '127.0.0.1' });
    s.setNoDelay(true);
    let rest = null;
    s.on('data', (chunk) => {
      const t = now();
      let buf = rest === null ? chunk : Buffer.concat([rest, chunk]);
      let off = 0;
      for (; off + FRAME <= buf.length; off += FRAME) {
        const seq = buf.readUInt32LE(off);
        if (buf.readUInt32LE(off + 4) !== MAGIC || seq >= next || !Number.isNaN(recv[seq])) {
          badFrames++;
          continue;
        }
        recv[seq] = t;
        answered++;
      }
      rest = off < buf.length ? buf.subarray(off) : null;
      if (finishing && answered === next) finish();
    });
    s.on('error', (err) => {
      if (!finishing) console.error('client: socket error', err.message);
    });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

function send(i) {
  if (i >= cap) grow();
  const frame = Buffer.allocUnsafe(FRAME);
  frame.writeUInt32LE(i, 0);
  frame.writeUInt32LE(MAGIC, 4);
  frame.fill(0, 8);
  due[i] = t0 + i * PERIOD_US;
  sent[i] = now();
  sockets[i % CONNS].write(frame);
}

function pump() {
  tick = undefined;
  if (!sending) return;
  const t = now();
  while (next < MAX_N && t0 + next * PERIOD_US <= t) send(next++);
  if (next >= MAX_N || t - t0 > MAX_S * 1e6) {
    stop();
    return;
  }
  const wait = (t0 + next * PERIOD_US - now()) / 1e3;
  tick = setTimeout(pump, Math.max(0, wait));
}

// The upstream of the wait case.
const upstream = net.createServer((s) => {
  s.setNoDelay(true);
  let text = '';
  s.on('data', (d) => {
    text += d.toString('latin1');
    let nl;
    while ((nl = text.indexOf('\n')) >= 0) {
      const line = text.slice(0, nl);
      text = text.slice(nl + 1);
      const m = /^ACK (\d+)$/.exec(line);
      if (m) setTimeout(() => s.writable && s.write('OK\n'), Math.min(Number(m[1]), 60_000));
    }
  });
  s.on('error', () => {});
});

let finishTimer;
function stop() {
  if (finishing) return;
  sending = false;
  finishing = true;
  if (tick !== undefined) clearTimeout(tick);
  if (answered === next) finish();
  else finishTimer = setTimeout(finish, 5000);
}

let finished = false;
function finish() {
  if (finished) return;
  finished = true;
  if (finishTimer !== undefined) clearTimeout(finishTimer);
  const n = next;
  // Binary file: n rows of [due, sent, recv] (float64, µs; recv NaN = no answer).
  const out = new Float64Array(n * 3);
  for (let i = 0; i < n; i++) {
    out[3 * i] = due[i];
    out[3 * i + 1] = sent[i];
    out[3 * i + 2] = recv[i];
  }
  fs.writeFileSync(OUT, Buffer.from(out.buffer, out.byteOffset, out.byteLength));
  for (const s of sockets) s.destroy();
  upstream.close();
  const msg = { type: 'done', file: OUT, count: n, answered, badFrames, rate: RATE, conns: CONNS };
  if (process.connected) process.send(msg, () => process.disconnect());
  else console.log(JSON.stringify(msg));
}

process.on('message', (m) => {
  if (m?.type === 'start' && !sending && !finishing) {
    sending = true;
    t0 = now();
    pump();
  } else if (m?.type === 'stop') {
    stop();
  }
});
process.on('disconnect', () => {
  if (!finished) stop();
});

for (let i = 0; i < CONNS; i++) sockets.push(await connect());
await new Promise((resolve) => upstream.listen(0, '127.0.0.1', resolve));
process.send({ type: 'ready', upstreamPort: upstream.address().port });
