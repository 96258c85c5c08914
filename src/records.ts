// Handle records as the native walk writes them (native/walk.h): one row of
// `RECORD.fields` numbers per handle, field offsets and state bits exported
// by the binding (native/js_arrays.h). Inside uv-drain a handle is known by
// its key (its address as one number: exact, user-space addresses are below
// 2^53); the hex id ("0x" and 16 digits) is made only where it leaves the
// library. Every array of the binding that lists handles (records, matched
// births, a C module's handles) gives an address as two halves, read here.
import { binding } from './native';

export const RECORD = binding.recordLayout;
/** A takeMatches() row. */
export const MATCH = binding.matchLayout;
/** A row of a plain list of handles. */
export const ADDRESS = binding.addressLayout;

/** Where a row of an array holds a handle's address. */
export interface AddressFields {
  readonly fields: number;
  readonly addrHi: number;
  readonly addrLo: number;
}

/** A handle's address as one number. */
export type HandleKey = number;

const TWO_32 = 2 ** 32;

export function keyOf(hi: number, lo: number): HandleKey {
  return hi * TWO_32 + lo;
}

/** The key of the row at offset `r` (a record unless `layout` says otherwise). */
export function keyAt(rows: Float64Array, r: number, layout: AddressFields = RECORD): HandleKey {
  return keyOf(rows[r + layout.addrHi]!, rows[r + layout.addrLo]!);
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

/** The keys of every row, in order (records unless `layout` says otherwise). */
export function keysOf(rows: Float64Array, layout: AddressFields = RECORD): Set<HandleKey> {
  const keys = new Set<HandleKey>();
  for (let r = 0; r < rows.length; r += layout.fields) keys.add(keyAt(rows, r, layout));
  return keys;
}
