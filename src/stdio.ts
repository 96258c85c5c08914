// process.stdin, stdout and stderr: Node makes them (and, for a TTY, a
// SIGWINCH handle) lazily, on first access. They are Node's, not the owner's
// that happened to touch them first, and no test's leak. One wrapper around
// each getter makes them as uv-drain's own and remembers the handles born.
import { withoutOwner } from './birth-state';
import { binding } from './native';
import { keyAt, keysOf, RECORD, typeAt, type HandleKey } from './records';

/** The handles born while Node made a stdio stream, with their type. */
const stdioHandles = new Map<HandleKey, string>();
let guarded = false;

/**
 * Wraps the stdio getters once: each stream is made as uv-drain's own
 * (withoutOwner: nothing it makes is attributed or observed).
 */
export function guardStdio(): void {
  if (guarded) return;
  guarded = true;
  for (const name of ['stdin', 'stdout', 'stderr'] as const) {
    const descriptor = Object.getOwnPropertyDescriptor(process, name);
    if (descriptor?.get === undefined || descriptor.configurable !== true) continue;
    const original = descriptor.get;
    Object.defineProperty(process, name, {
      ...descriptor,
      get() {
        // Later reads go to Node's own getter (which caches the stream).
        Object.defineProperty(process, name, descriptor);
        const before = keysOf(binding.snapshot(false).records);
        const stream = withoutOwner(() => original.call(this));
        const after = binding.snapshot(false).records;
        for (let r = 0; r < after.length; r += RECORD.fields) {
          const key = keyAt(after, r);
          if (!before.has(key)) stdioHandles.set(key, typeAt(after, r));
        }
        return stream;
      },
    });
  }
}

/** Whether the handle at `key`, of `type`, was born while Node made a stdio stream. */
export function isStdioHandle(key: HandleKey, type: string): boolean {
  return stdioHandles.get(key) === type;
}
