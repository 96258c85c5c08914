// ANSI colours, or none: for the leak report (leaks.ts) and the CLI's reports.

export type Colours = Record<'bold' | 'dim' | 'red' | 'yellow' | 'cyan' | 'green', (s: string) => string>;

export function colours(on: boolean): Colours {
  const wrap = (open: number, close: number) => (s: string) => (on ? `\u001b[${open}m${s}\u001b[${close}m` : s);
  return {
    bold: wrap(1, 22),
    dim: wrap(2, 22),
    red: wrap(31, 39),
    yellow: wrap(33, 39),
    cyan: wrap(36, 39),
    green: wrap(32, 39),
  };
}
