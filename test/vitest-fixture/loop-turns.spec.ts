// A clean check adds no loop turn: the test after an HTTP test (which leaves
// Node's pooled socket and its server side alive, neither of them its leak)
// starts before an immediate queued at the end of that test has run. The
// immediate is queued in the file's hooks' context (an AsyncResource made in beforeAll), so
// that it is not the test's own.
import { AsyncResource } from 'node:async_hooks';
import { once } from 'node:events';
import * as http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let server: http.Server;
let port: number;
let turned = false;
let markTurn: () => void;

beforeAll(async () => {
  server = http.createServer((req, res) => res.end('ok'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as { port: number }).port;
  const hooks = new AsyncResource('loop-turns');
  markTurn = () => hooks.runInAsyncScope(() => setImmediate(() => (turned = true)));
});

afterAll(async () => {
  http.globalAgent.destroy();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('loop turns', () => {
  it('requests through the global agent', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => resolve(text));
      }).on('error', reject);
    });
    expect(body).toBe('ok');
    markTurn();
  });

  it('starts in the same loop turn', () => {
    expect(turned).toBe(false);
  });
});
