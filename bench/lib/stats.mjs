// Small helpers for bench/accounting.mjs: order statistics and formatting.

/** The q-quantile (0..1) of `values` (nearest rank on a sorted copy). */
export function quantile(values, q) {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

export const median = (values) => quantile(values, 0.5);
export const p90 = (values) => quantile(values, 0.9);

/** Integer with thousands separators: 1234567 -> "1,234,567". */
export function int(n) {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a';
}

/** A number with `digits` significant-ish decimals, for small per-handle figures. */
export function num(n, digits = 2) {
  if (!Number.isFinite(n)) return 'n/a';
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 10) return n.toFixed(Math.min(1, digits));
  return n.toFixed(digits);
}

/** A markdown table from a header row and data rows (strings). */
export function markdownTable(header, rows, align) {
  const line = (cells) => '| ' + cells.join(' | ') + ' |';
  const sep = header.map((_, i) => ((align?.[i] ?? 'r') === 'l' ? ':--' : '--:'));
  return [line(header), line(sep), ...rows.map(line)].join('\n');
}

/** A seeded PRNG (mulberry32): same shuffles on every run. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Shuffles `array` in place (Fisher-Yates) with `random` from prng(). */
export function shuffle(array, random) {
  for (let i = array.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [array[i], array[j]] = [array[j], array[i]];
  }
  return array;
}
