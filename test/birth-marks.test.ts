// Birth matching never walks from a handle that may be gone: an announced
// birth keeps its place in the loop's handle queue with a mark of its own
// (native/uv_layout.h), so the handle that was the queue's tail at the
// announcement can close, be freed and have its memory reused before the
// birth resolves. Driven directly through the addon's birth calls with raw
// fixture handles, so each interleaving is exact; test:asan runs this file
// over the sanitized build, where a read of freed memory is a failure.
import { describe, expect, it } from 'vitest';
import { countsFor, snapshot } from '../dist/index.js';
import { binding } from '../dist/native.js';
import { closeHandle, fixtureBaselinePerTest, loadFixture, type Kind } from './fixture.js';
import { uniqueName } from './helpers.js';

const fx = loadFixture();
const typeOf = (kind: Kind) => binding.typeNames.indexOf(kind);

fixtureBaselinePerTest(fx, { tidy: () => binding.resolveBirths(true) });

function owner(): { name: string; id: number } {
  const name = uniqueName('marks-');
  return { name, id: binding.ownerId(name) };
}

const ownerOfHandle = (id: string) => snapshot().find((h) => h.id === id)?.owner;

describe('a pending birth whose queue tail goes away before it resolves', () => {
  it('the tail closes and is freed: the birth still takes the handle born after it', async () => {
    const a = owner();
    const tail = fx.create('timer');
    binding.noteBirth(a.id, typeOf('tcp'), false);
    await closeHandle(fx, tail); // freed by its close callback
    const born = fx.create('tcp');
    binding.resolveBirths(false);
    expect(ownerOfHandle(born)).toBe(a.name);
    expect(countsFor(a.name).total).toBe(1);
  });

  it("the tail's memory is reused by a later handle of the same type: the birth takes the first one, not the reused one", async () => {
    const a = owner();
    const tail = fx.create('timer');
    binding.noteBirth(a.id, typeOf('timer'), false);
    await new Promise<void>((resolve) => fx.close(tail, () => setImmediate(resolve), true)); // memory kept for reuse
    const born = fx.create('timer');
    const reused = fx.create('timer', undefined, tail);
    expect(reused).toBe(tail);
    binding.resolveBirths(false);
    expect(ownerOfHandle(born)).toBe(a.name);
    expect(ownerOfHandle(reused)).toBeNull();
  });

  it('several pending births, the handles between them closing: each takes its own, in order', async () => {
    const a = owner();
    const b = owner();
    const first = fx.create('idle');
    binding.noteBirth(a.id, typeOf('check'), true);
    const second = fx.create('idle');
    binding.noteBirth(b.id, typeOf('prepare'), true);
    await Promise.all([closeHandle(fx, first), closeHandle(fx, second)]);
    const check = fx.create('check');
    const prepare = fx.create('prepare');
    binding.resolveBirths(false);
    expect(ownerOfHandle(check)).toBe(a.name);
    expect(ownerOfHandle(prepare)).toBe(b.name);
  });

  it('a deferred birth that never made its handle (a failed spawn) is dropped by the next of its type, which claims the handle even unowned', async () => {
    const a = owner();
    const tail = fx.create('timer');
    binding.noteBirth(a.id, typeOf('check'), true);
    await closeHandle(fx, tail);
    binding.noteBirth(0, typeOf('check'), true);
    const unowned = fx.create('check');
    binding.resolveBirths(false);
    const later = fx.create('check');
    binding.resolveBirths(true);
    expect(ownerOfHandle(unowned)).toBeNull();
    expect(ownerOfHandle(later)).toBeNull();
    expect(countsFor(a.name).total).toBe(0);
  });

  it('a final resolution drops what never came and leaves no mark on the loop', async () => {
    const a = owner();
    const before = binding.bareTraversal();
    for (let i = 0; i < 100; i++) binding.noteBirth(a.id, typeOf('poll'), false);
    expect(binding.bareTraversal()).toBe(before + 100);
    binding.resolveBirths(true);
    expect(binding.bareTraversal()).toBe(before);
    // Nothing announced is left to take a later handle.
    const later = fx.create('poll');
    binding.resolveBirths(true);
    expect(ownerOfHandle(later)).toBeNull();
  });
});
