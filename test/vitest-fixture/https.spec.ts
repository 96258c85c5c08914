// Clean https tests: a TLS server from beforeAll, requests through Node's
// global https agent (it pools TLS sockets like the http one) and through a
// keep-alive agent of the file's, destroyed in afterAll.
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const certs = path.join(import.meta.dirname, 'certs');
let server: https.Server;
let port: number;
let agent: https.Agent;

beforeAll(async () => {
  agent = new https.Agent({ keepAlive: true, rejectUnauthorized: false });
  server = https.createServer(
    { key: fs.readFileSync(path.join(certs, 'key.pem')), cert: fs.readFileSync(path.join(certs, 'cert.pem')) },
    (req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`secure ${req.url}`);
    },
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as { port: number }).port;
});

afterAll(async () => {
  agent.destroy();
  https.globalAgent.destroy();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function get(pathname: string, options: https.RequestOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port, path: pathname, rejectUnauthorized: false, ...options }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

describe('https', () => {
  it('answers through the global agent', async () => {
    expect(await get('/global', {})).toBe('secure /global');
  });

  it('answers twice through the file’s agent, on one socket', async () => {
    expect(await get('/one', { agent })).toBe('secure /one');
    expect(await get('/two', { agent })).toBe('secure /two');
  });
});
