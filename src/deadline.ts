// uv-drain's own deadlines: never an owner's timer (made with no owner
// current), never keeping the process alive (unref'd), and Infinity means
// no timer at all (Node would turn it into 1 ms).
import { withoutOwner } from './birth-state';
import { clearTimeout, setTimeout } from './clock';

export interface Deadline {
  cancel(): void;
}

export function deadline(ms: number, onExpiry: () => void): Deadline {
  if (ms === Infinity) return { cancel() {} };
  const timer = withoutOwner(() => setTimeout(onExpiry, ms));
  timer.unref();
  return { cancel: () => clearTimeout(timer) };
}
