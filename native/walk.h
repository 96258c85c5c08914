// Whole-loop traversals behind stats(), countsByOwner() and snapshot().
#ifndef UV_DRAIN_WALK_H
#define UV_DRAIN_WALK_H

#include <vector>

#include "loop_state.h"
#include "modules.h"

namespace uvdrain {

struct LoopStats {
  Counts handles;
  uint32_t active_reqs = 0;
  bool alive = false;
};

LoopStats StatsOf(uv_loop_t* loop);

// counts[index] for every owner index (index 0: handles with no owner).
void CountsByOwner(const LoopState& state, std::vector<Counts>* counts);

// One record per handle, as doubles (exact up to 2^53) so that JavaScript can
// read them from one Float64Array without an object per handle.
constexpr int kRecordFields = 7;
enum RecordField { kAddrHi, kAddrLo, kType, kBits, kFd, kOwnerIndex, kModule };
constexpr int kBitActive = 1, kBitRef = 2, kBitClosing = 4;
void Snapshot(LoopState* state, ModuleIndex* modules, bool with_modules,
              std::vector<double>* out);

// The floor for benchmarks: a read-only traversal that only counts.
size_t BareTraversal(uv_loop_t* loop);

}  // namespace uvdrain

#endif
