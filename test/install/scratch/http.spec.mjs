// A user's suite in a scratch project: one clean HTTP test, one that leaks an interval.
import http from 'node:http';
import { once } from 'node:events';
import { afterAll, beforeAll, expect, test } from 'vitest';

let server;
beforeAll(async () => {
  server = http.createServer((req, res) => res.end('hi')).listen(0, '127.0.0.1');
  await once(server, 'listening');
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

test('gets a page', async () => {
  const res = await fetch(`http://127.0.0.1:${server.address().port}/`);
  expect(await res.text()).toBe('hi');
});

test('leaks an interval', () => {
  setInterval(() => {}, 60_000);
});
