// Clean tests with a worker pool made in beforeAll and terminated in
// afterAll (tasks posted from tests), and child processes and workers run to their end.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const WORKER = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', ({ id, n }) => {
  let sum = 0;
  for (let i = 1; i <= n; i++) sum += i;
  parentPort.postMessage({ id, sum });
});
`;

class Pool {
  private readonly workers: Worker[];
  private next = 0;
  private id = 0;
  constructor(size: number) {
    this.workers = Array.from({ length: size }, () => new Worker(WORKER, { eval: true }));
  }
  run(n: number): Promise<number> {
    const worker = this.workers[this.next++ % this.workers.length];
    const id = ++this.id;
    return new Promise((resolve) => {
      const onMessage = (message: { id: number; sum: number }) => {
        if (message.id !== id) return;
        worker.off('message', onMessage);
        resolve(message.sum);
      };
      worker.on('message', onMessage);
      worker.postMessage({ id, n });
    });
  }
  async destroy(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

let pool: Pool;
beforeAll(() => {
  pool = new Pool(2);
});
afterAll(async () => {
  await pool.destroy();
});

describe('a worker pool from beforeAll', () => {
  it('sums on a worker', async () => {
    expect(await pool.run(100)).toBe(5050);
  });

  it('sums on both workers at once', async () => {
    expect(await Promise.all([pool.run(10), pool.run(20), pool.run(30)])).toEqual([55, 210, 465]);
  });

  it('runs a child process to its end', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', 'console.log(6 * 7)']);
    expect(stdout.trim()).toBe('42');
  });

  // 'exit' is listened for before the message is awaited: a worker whose
  // thread is gone by the time this thread looks has its message and its
  // 'exit' emitted in one go (Node's Worker drains its ports, then emits
  // 'exit', in the same callback), before an await of the message resumes.
  it('runs a worker of its own to its end', async () => {
    const worker = new Worker('require("node:worker_threads").parentPort.postMessage("done")', { eval: true });
    const exited = once(worker, 'exit');
    const [message] = await once(worker, 'message');
    await exited;
    expect(message).toBe('done');
  });

  // That order, made likely: this thread is held (Atomics.wait) while the
  // worker posts and ends, so both reach it in the same loop turn.
  it('runs a worker of its own that is gone before its message is read', async () => {
    const posted = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
      parentPort.postMessage('done');
      Atomics.store(workerData, 0, 1);
      Atomics.notify(workerData, 0);`,
      { eval: true, workerData: posted },
    );
    const exited = once(worker, 'exit');
    Atomics.wait(posted, 0, 0);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100); // its thread tears down meanwhile
    const [message] = await once(worker, 'message');
    await exited;
    expect(message).toBe('done');
  });
});
