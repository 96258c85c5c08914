// Handle records as the native walk writes them (native/walk.h): one row of
// `RECORD.fields` numbers per handle, field offsets and state bits exported
// by the binding. Inside uv-drain a handle is known by its key (its address
// as one number: exact, user-space addresses are below 2^53); the hex id
// ("0x" and 16 digits) is made only where it leaves the library.
import { binding } from './native';

export const RECORD = binding.recordLayout;

/** A handle's address as one number. */
export type HandleKey = number;

const TWO_32 = 2 ** 32;

export function keyOf(hi: number, lo: number): HandleKey {
  return hi * TWO_32 + lo;
}

/** The key of the record at offset `r`. */
export function keyAt(records: Float64Array, r: number): HandleKey {
  return records[r + RECORD.addrHi]! * TWO_32 + records[r + RECORD.addrLo]!;
}

/** The two 32-bit halves of a key, as the binding takes addresses. */
export function halves(key: HandleKey): [hi: number, lo: number] {
  return [Math.floor(key / TWO_32), key % TWO_32];
}

/** The public id: "0x" and the address in 16 hex digits. */
export function idOf(key: HandleKey): string {
  const [hi, lo] = halves(key);
  return '0x' + hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

/** The key of a public id (what idOf made). */
export function keyOfId(id: string): HandleKey {
  return keyOf(Number.parseInt(id.slice(2, 10), 16), Number.parseInt(id.slice(10), 16));
}

/** The libuv type name of the record at `r` ('unknown' for a type this libuv does not name). */
export function typeAt(records: Float64Array, r: number): string {
  return binding.typeNames[records[r + RECORD.type]!] ?? 'unknown';
}

/** The keys of every record. */
export function keysOf(records: Float64Array): Set<HandleKey> {
  const keys = new Set<HandleKey>();
  for (let r = 0; r < records.length; r += RECORD.fields) keys.add(keyAt(records, r));
  return keys;
}
