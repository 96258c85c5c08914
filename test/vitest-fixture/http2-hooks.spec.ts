// Clean http2 tests the way a framework adapter's suite manages its client:
// a session made in beforeEach, closed by the next beforeEach, the last one
// in afterAll; and a nested block with a server of its own. A session lives
// across tests on purpose: it is its block's, checked when the block ends.
import { once } from 'node:events';
import * as http2 from 'node:http2';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

async function h2Server(tag: string): Promise<{ server: http2.Http2Server; url: string }> {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    stream.respond({ ':status': 200, 'content-type': 'text/plain' });
    stream.end(`${tag} ${headers[':path']}`);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
}

function request(session: http2.ClientHttp2Session, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path });
    let body = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => (body += chunk));
    stream.on('end', () => resolve(body));
    stream.on('error', reject);
    stream.end();
  });
}

function closeSession(session: http2.ClientHttp2Session | undefined): Promise<void> {
  if (session === undefined || session.closed) return Promise.resolve();
  return new Promise((resolve) => session.close(() => resolve()));
}

describe('http2 sessions from beforeEach', () => {
  let server: http2.Http2Server;
  let url: string;
  let session: http2.ClientHttp2Session | undefined;

  beforeAll(async () => {
    ({ server, url } = await h2Server('main'));
  });

  beforeEach(async () => {
    await closeSession(session);
    session = http2.connect(url);
    await once(session, 'connect');
  });

  afterAll(async () => {
    await closeSession(session);
    await new Promise((resolve) => server.close(resolve));
  });

  it('gets one path', async () => {
    expect(await request(session!, '/a')).toBe('main /a');
  });

  it('gets two streams at once', async () => {
    expect(await Promise.all([request(session!, '/b'), request(session!, '/c')])).toEqual(['main /b', 'main /c']);
  });

  describe('a nested block with its own server', () => {
    let other: { server: http2.Http2Server; url: string };

    beforeAll(async () => {
      other = await h2Server('nested');
    });

    afterAll(async () => {
      await new Promise((resolve) => other.server.close(resolve));
    });

    it('talks to both servers', async () => {
      const own = http2.connect(other.url);
      try {
        expect(await request(own, '/x')).toBe('nested /x');
        expect(await request(session!, '/y')).toBe('main /y');
      } finally {
        await closeSession(own);
      }
    });
  });
});
