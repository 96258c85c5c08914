// Clean tests with a worker pool made in beforeAll and terminated in
// afterAll (tasks posted from tests), and child processes run to their end.
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

  it('runs a worker of its own to its end', async () => {
    const worker = new Worker('require("node:worker_threads").parentPort.postMessage("done")', { eval: true });
    const [message] = await once(worker, 'message');
    await once(worker, 'exit');
    expect(message).toBe('done');
  });
});
