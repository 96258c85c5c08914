// Clean HTTP tests shaped like an HTTP framework's suite: one server from
// beforeAll, a keep-alive agent of the file's (destroyed in afterAll), fetch
// and http.get, streamed bodies both ways, aborted and timed-out requests. The
// server's connections and its handlers' timers are the server's (its
// block's), not the test's that sent the request: nothing here is a leak.
import { once } from 'node:events';
import * as http from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let server: http.Server;
let base: string;
let agent: http.Agent;

beforeAll(async () => {
  agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  server = http.createServer(async (req, res) => {
    if (req.url === '/stream') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      for (let i = 0; i < 5; i++) {
        res.write(`chunk ${i}\n`);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      res.end();
    } else if (req.url === '/slow') {
      const late = setTimeout(() => res.end('late'), 5_000);
      res.on('close', () => clearTimeout(late));
    } else if (req.method === 'POST') {
      let bytes = 0;
      for await (const chunk of req) bytes += (chunk as Buffer).length;
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(String(bytes));
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ url: req.url }));
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  agent.destroy();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function get(path: string, options: http.RequestOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(`${base}${path}`, options, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

describe('http hooks', () => {
  it('fetches JSON', async () => {
    const res = await fetch(`${base}/json`);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual({ url: '/json' });
  });

  it('fetches in a promise chain, no await', () =>
    fetch(`${base}/chain`)
      .then((res) => res.json())
      .then((body) => expect(body).toEqual({ url: '/chain' })));

  it('reads a streamed body chunk by chunk', async () => {
    const res = await fetch(`${base}/stream`);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += decoder.decode(r.value);
    expect(text.split('\n').filter(Boolean)).toHaveLength(5);
  });

  it('posts a streamed request body', async () => {
    const req = http.request(`${base}/upload`, { method: 'POST' });
    const answer = once(req, 'response');
    await pipeline(Readable.from(['a'.repeat(1000), 'b'.repeat(2000)]), req);
    const [res] = (await answer) as [http.IncomingMessage];
    let body = '';
    for await (const chunk of res) body += chunk;
    expect(body).toBe('3000');
  });

  it('sends requests in parallel through the file’s keep-alive agent', async () => {
    const bodies = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => get(`/n/${n}`, { agent })));
    expect(bodies.map((b) => JSON.parse(b).url)).toEqual(['/n/1', '/n/2', '/n/3', '/n/4', '/n/5', '/n/6']);
  });

  it('goes through Node’s global agent', async () => {
    expect(JSON.parse(await get('/global')).url).toBe('/global');
  });

  it('aborts a fetch', async () => {
    const controller = new AbortController();
    const pending = fetch(`${base}/slow`, { signal: controller.signal });
    setTimeout(() => controller.abort(), 5);
    await expect(pending).rejects.toThrow(/abort/i);
  });

  it('gives up on a slow answer with AbortSignal.timeout', async () => {
    await expect(fetch(`${base}/slow`, { signal: AbortSignal.timeout(20) })).rejects.toThrow(/timeout|aborted/i);
  });

  it('destroys an http.get in flight', async () => {
    const req = http.get(`${base}/slow`, { agent });
    const failed = once(req, 'error');
    await once(req, 'socket');
    req.destroy();
    const [error] = (await failed) as [NodeJS.ErrnoException];
    expect(error.code).toBe('ECONNRESET');
  });
});
