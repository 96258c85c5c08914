// snapshot() against an independent oracle: Node's diagnostic report walks
// the same loop with uv_walk (src/node_report.cc) and prints, per handle, its
// type, uv_is_active(), uv_has_ref() and address (`0x%016x`, the format of
// our `id`). The report's `loop` entry is the loop itself, not a handle.
import { describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { snapshot, withOwner, type HandleInfo } from '../dist/index.js';
import { baselinePerTest, uniqueName, until } from './helpers';

interface ReportHandle {
  type: string;
  address: string;
  is_active: boolean;
  is_referenced?: boolean;
  fd?: number;
}

interface Observation {
  before: HandleInfo[];
  report: ReportHandle[];
  after: HandleInfo[];
}

/**
 * snapshot(), the report, snapshot(), in one synchronous block.
 *
 * getReport() may create or close handles of its own while it runs (on Node
 * 20.20 it makes none, but nothing promises that). It cannot make one leave
 * the queue: libuv removes a handle only in the loop's closing phase
 * (uv__finish_close), and the loop does not turn during this block. So by
 * address, before ⊆ report ⊆ after; a handle born inside getReport() is in
 * `after` and may or may not be in the report. Handle state is compared only
 * for the stable part: handles whose state is the same before and after.
 */
function observe(): Observation {
  const before = snapshot();
  const full = process.report.getReport() as unknown as { libuv: ReportHandle[] };
  const after = snapshot();
  return { before, report: full.libuv.filter((e) => e.type !== 'loop'), after };
}

function sameState(a: HandleInfo, b: HandleInfo): boolean {
  return (
    a.type === b.type && a.active === b.active && a.ref === b.ref && a.closing === b.closing && a.fd === b.fd
  );
}

function stable({ before, after }: Observation): HandleInfo[] {
  const byId = new Map(after.map((h) => [h.id, h]));
  return before.filter((h) => byId.has(h.id) && sameState(h, byId.get(h.id)!));
}

// ------------------------------------------------------------- the mix ----

interface Mix {
  owner: string;
  /** Closes every handle of the mix (closing ones included) and waits for the loop to let go. */
  dispose(): Promise<void>;
}

let tmp: string;

baselinePerTest({
  setup() {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uv-drain-report-'));
  },
  tidy: () => fs.rmSync(tmp, { recursive: true, force: true }),
});

/**
 * Live handles of every kind, some owned, some unref'd, then (synchronously,
 * right before the caller observes) a second batch put into closing.
 */
async function buildMix(): Promise<Mix> {
  const owner = uniqueName('report-oracle/');
  const tcpServer = withOwner(owner, () => net.createServer().listen(0));
  const port = (tcpServer.address() as net.AddressInfo).port;
  const accepted: net.Socket[] = [];
  tcpServer.on('connection', (s) => accepted.push(s));
  const client = net.connect(port, '127.0.0.1');
  const doomedClient = withOwner(owner, () => net.connect(port, '127.0.0.1'));
  await Promise.all([once(client, 'connect'), once(doomedClient, 'connect')]);
  await until(() => accepted.length === 2, 'two accepted sockets');
  client.unref();

  const pipePath = path.join(tmp, 'oracle.sock');
  const pipeServer = withOwner(owner, () => net.createServer().listen(pipePath));
  const pipeClient = net.connect(pipePath);
  await once(pipeClient, 'connect');

  const udp = withOwner(owner, () => dgram.createSocket('udp4'));
  udp.bind(0, '127.0.0.1');
  await once(udp, 'listening');
  udp.unref();
  const doomedUdp = dgram.createSocket('udp4');

  const watcher = fs.watch(tmp);
  const doomedWatcher = withOwner(owner, () => fs.watch(tmp));
  const onSignal = (): void => {};
  process.on('SIGUSR2', onSignal);
  const channel = withOwner(owner, () => new MessageChannel());
  channel.port1.on('message', () => {});
  const doomedChannel = new MessageChannel();

  const child: ChildProcess = withOwner(owner, () =>
    spawn(process.execPath, ['-e', 'process.stdin.resume()'], { stdio: ['pipe', 'ignore', 'ignore'] }),
  );
  const childClosed = once(child, 'close');
  await once(child, 'spawn');

  // The closing batch: uv_close() has run, the close callbacks have not.
  doomedClient.destroy();
  doomedUdp.close();
  doomedWatcher.close();
  doomedChannel.port1.close();
  process.removeListener('SIGUSR2', onSignal);

  return {
    owner,
    async dispose() {
      child.stdin!.end();
      await childClosed;
      for (const s of [client, pipeClient, ...accepted]) s.destroy();
      tcpServer.close();
      pipeServer.close();
      udp.close();
      watcher.close();
      channel.port1.close();
      await until(() => snapshot().every((h) => h.owner !== owner), 'the mix to close');
    },
  };
}

describe('snapshot() against process.report', () => {
  it('lists the same handles as the report, address for address and in the same order', async () => {
    const mix = await buildMix();
    const seen = observe();
    const reportIds = seen.report.map((e) => e.address);
    const afterIds = seen.after.map((h) => h.id);
    // before ⊆ report ⊆ after, and both walks go in creation order.
    expect(afterIds.filter((id) => reportIds.includes(id))).toEqual(reportIds);
    expect(reportIds.filter((id) => seen.before.some((h) => h.id === id))).toEqual(
      seen.before.map((h) => h.id),
    );
    await mix.dispose();
  });

  it('agrees with the report on type, active and referenced for every stable handle, closing ones included', async () => {
    const mix = await buildMix();
    const seen = observe();
    const ours = stable(seen);
    const report = new Map(seen.report.map((e) => [e.address, e]));
    expect(ours.map((h) => [h.id, h.type, h.active, h.ref])).toEqual(
      ours.map((h) => {
        const e = report.get(h.id);
        return [e?.address, e?.type, e?.is_active, e?.is_referenced];
      }),
    );
    // The mix really holds what this test is about.
    expect(ours.filter((h) => h.closing).map((h) => h.type).sort()).toEqual([
      'async',
      'fs_event',
      'signal',
      'tcp',
      'udp',
    ]);
    expect(ours.some((h) => h.active && !h.ref && h.type === 'tcp')).toBe(true);
    expect(new Set(ours.map((h) => h.type))).toEqual(
      new Set(['async', 'check', 'fs_event', 'idle', 'pipe', 'prepare', 'process', 'signal', 'tcp', 'timer', 'udp']),
    );
    await mix.dispose();
  });

  it('agrees with the report on the fd of every stable handle the report gives one', async () => {
    const mix = await buildMix();
    const seen = observe();
    const report = new Map(seen.report.map((e) => [e.address, e]));
    const withFd = stable(seen).filter((h) => report.get(h.id)?.fd !== undefined);
    expect(withFd.map((h) => [h.type, h.fd])).toEqual(withFd.map((h) => [h.type, report.get(h.id)!.fd]));
    // tcp, pipe and udp: the report's socket entries; the mix has live ones of each.
    expect(new Set(withFd.map((h) => h.type))).toEqual(new Set(['tcp', 'pipe', 'udp']));
    await mix.dispose();
  });

  it('agrees with the report that every closing handle is inactive', async () => {
    const mix = await buildMix();
    const seen = observe();
    const report = new Map(seen.report.map((e) => [e.address, e]));
    const closing = stable(seen).filter((h) => h.closing);
    expect(closing).toHaveLength(5);
    expect(closing.map((h) => [h.id, report.get(h.id)?.is_active])).toEqual(closing.map((h) => [h.id, false]));
    await mix.dispose();
  });
});
