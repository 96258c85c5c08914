// Resources made while the file is collected (inside a describe callback)
// or by a beforeAll hook are the file's: those still alive after its last
// afterAll fail the file; one closed in afterAll is fine.
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

describe('file scope', () => {
  const collected = net.createServer().listen(0); // leak:collection
  let fromHook: net.Server;
  let closedInAfterAll: net.Server;

  beforeAll(() => {
    fromHook = net.createServer().listen(0); // leak:beforeAll
    closedInAfterAll = net.createServer().listen(0);
  });

  afterAll(async () => {
    await new Promise((resolve) => closedInAfterAll.close(resolve));
  });

  it('uses the servers the file made', () => {
    expect(collected.listening && fromHook.listening).toBe(true);
  });
});
