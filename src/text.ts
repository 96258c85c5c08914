// The words uv-drain's reports share: the leak report (leaks.ts), the CLI's
// text (cli/format.ts) and the Vitest integration (vitest/report.ts).

/** "1 handle", "2 handles". */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** "2 handles and 1 JS timer" (what there is of the two). */
export function handlesAndTimers(handles: number, timers: number): string {
  const parts: string[] = [];
  if (handles > 0) parts.push(plural(handles, 'handle'));
  if (timers > 0) parts.push(plural(timers, 'JS timer'));
  return parts.join(' and ');
}

/** "active ref", "inactive unref closing". */
export function handleState(h: { active: boolean; ref: boolean; closing: boolean }): string {
  const state = [h.active ? 'active' : 'inactive', h.ref ? 'ref' : 'unref'];
  if (h.closing) state.push('closing');
  return state.join(' ');
}

/** "every 100 ms", "after 100 ms", or null for an immediate. */
export function timerTiming(t: { repeatMs: number | null; delayMs: number | null }): string | null {
  if (t.repeatMs !== null) return `every ${t.repeatMs} ms`;
  if (t.delayMs !== null) return `after ${t.delayMs} ms`;
  return null;
}
