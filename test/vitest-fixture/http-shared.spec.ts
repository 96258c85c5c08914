// HTTP tests written the way HTTP-heavy suites are: one server for the file
// (beforeAll/afterAll), requests through Node's global agent (keep-alive by
// default) and fetch. What Node's shared machinery keeps for the process —
// the Date-header cache timer, pooled sockets and their server side — is no
// test's leak; a keep-alive agent a test makes and never destroys is.
import * as http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let server: http.Server;
let port: number;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('hello');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
});

afterAll(async () => {
  http.globalAgent.destroy();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function get(agent?: http.Agent): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

describe('shared http', () => {
  it('answers with a Date header (Node caches it with a timer)', async () => {
    expect(await get()).toBe('hello');
  });

  it('reuses the global agent keep-alive socket', async () => {
    expect(await get()).toBe('hello');
    expect(await get()).toBe('hello');
  });

  it('fetches through the global dispatcher', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/`);
    expect(await res.text()).toBe('hello');
  });

  it('leaks a keep-alive agent of its own', async () => {
    const agent = new http.Agent({ keepAlive: true }); // leak:agent
    expect(await get(agent)).toBe('hello');
  });
});

describe('shared http, server on the default (dual-stack) address', () => {
  let dual: http.Server;
  beforeAll(async () => {
    dual = http.createServer((req, res) => res.end('dual'));
    await new Promise<void>((resolve) => dual.listen(0, resolve)); // '::' where IPv6 is on: peers show as ::ffff:127.0.0.1
  });
  afterAll(async () => {
    dual.closeAllConnections();
    await new Promise((resolve) => dual.close(resolve));
  });

  it('fetches over IPv4', async () => {
    const res = await fetch(`http://127.0.0.1:${(dual.address() as { port: number }).port}/`);
    expect(await res.text()).toBe('dual');
  });
});
