// The layout of every array of numbers the binding shares with JavaScript:
// one enum per array, exported by name (constants.cc: recordLayout,
// countsLayout...) so that JS never retypes a position (src/records.ts,
// src/accounting.ts), and the writers of what several arrays hold (an
// address, an owner's counts). Numbers are doubles: exact up to 2^53, and JS
// reads them from one Float64Array without an object per item.
#ifndef UV_DRAIN_JS_ARRAYS_H
#define UV_DRAIN_JS_ARRAYS_H

#include <cstdint>

#include "loop_state.h"

namespace uvdrain {

// snapshot(): one record per handle. `bits` holds kBit*; `sharedObject` is
// an index into the snapshot's names of shared objects, or -1.
enum RecordField {
  kRecordAddrHi,
  kRecordAddrLo,
  kRecordType,
  kRecordBits,
  kRecordFd,
  kRecordOwner,
  kRecordSharedObject,
  kRecordFields
};
constexpr int kBitActive = 1, kBitRef = 2, kBitClosing = 4;

// An owner's counts: countsFor() and watchedCounts() put them in the scratch
// array, countsByOwner() in each row after the owner's index.
enum CountsSlot { kCountTotal, kCountActive, kCountRef, kCountClosing, kCountRequests, kCountSlots };

// stats(), in the scratch array.
enum StatsSlot { kStatHandles, kStatActive, kStatRef, kStatClosing, kStatActiveReqs, kStatAlive, kStatSlots };

// countsByOwner(): a row per owner with a live handle or request.
enum OwnerRowField { kOwnerRowIndex, kOwnerRowCounts, kOwnerRowFields = kOwnerRowCounts + kCountSlots };

// takeMatches(): a row per matched birth: its sequence number and the handle.
enum MatchField { kMatchSeq, kMatchAddrHi, kMatchAddrLo, kMatchFields };

// A list of handles (cmodule.callbacksInside(), cmodule.close()'s refusal).
enum AddressField { kAddressHi, kAddressLo, kAddressFields };

// The scratch array: room for the largest of its layouts.
constexpr int kScratchSize = 8;
static_assert(kCountSlots <= kScratchSize && kStatSlots <= kScratchSize, "scratch too small");

// An address as JS takes it: two 32-bit halves (a key is hi * 2^32 + lo,
// src/records.ts).
inline double AddrHi(const void* p) {
  return static_cast<double>(static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p)) >> 32);
}
inline double AddrLo(const void* p) {
  return static_cast<double>(static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p)) & 0xffffffffu);
}
inline uintptr_t AddressOf(uint32_t hi, uint32_t lo) {
  return static_cast<uintptr_t>((static_cast<uint64_t>(hi) << 32) | lo);
}

// Writes CountsSlot slots at `at`.
inline void PutCounts(double* at, const Counts& c, int64_t requests) {
  at[kCountTotal] = c.total;
  at[kCountActive] = c.active;
  at[kCountRef] = c.ref;
  at[kCountClosing] = c.closing;
  at[kCountRequests] = static_cast<double>(requests);
}

}  // namespace uvdrain

#endif
