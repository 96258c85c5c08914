// npm undici's pools, the way suites use them: importing undici installs its
// Agent as fetch's global dispatcher (the process's pool: its keep-alive
// sockets are no test's), an Agent made while the file is collected and
// closed in afterAll (its sockets are the collection's, gone by the end),
// and an Agent a test makes and never closes (that test's leak).
import { once } from 'node:events';
import * as http from 'node:http';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let server: http.Server;
let base: string;
const leftOpen: Agent[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => res.end(`pooled ${req.url}`));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  for (const agent of leftOpen) await agent.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('undici pools', () => {
  const shared = new Agent({ keepAliveTimeout: 10_000 });
  afterAll(async () => {
    await shared.close();
  });

  it('global fetch goes through npm undici’s global dispatcher', async () => {
    const res = await fetch(`${base}/global`);
    expect(await res.text()).toBe('pooled /global');
  });

  it('undici’s own fetch, same dispatcher', async () => {
    const res = await undiciFetch(`${base}/undici`);
    expect(await res.text()).toBe('pooled /undici');
  });

  it('an Agent made while the file is collected', async () => {
    const res = await undiciFetch(`${base}/shared`, { dispatcher: shared });
    expect(await res.text()).toBe('pooled /shared');
  });

  it('leaks an Agent of its own', async () => {
    const own = new Agent({ keepAliveTimeout: 10_000 });
    leftOpen.push(own);
    const res = await undiciFetch(`${base}/own`, { dispatcher: own }); // leak:undici-agent
    expect(await res.text()).toBe('pooled /own');
  });
});
