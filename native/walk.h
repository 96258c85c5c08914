// Whole-loop traversals behind stats(), countsByOwner() and snapshot().
#ifndef UV_DRAIN_WALK_H
#define UV_DRAIN_WALK_H

#include <vector>

#include "loop_state.h"
#include "js_arrays.h"
#include "shared_objects.h"

namespace uvdrain {

struct LoopStats {
  Counts handles;
  uint32_t active_reqs = 0;
  bool alive = false;
};

LoopStats StatsOf(uv_loop_t* loop);

// counts[index] for every owner index (index 0: handles with no owner).
void CountsByOwner(const LoopState& state, std::vector<Counts>* counts);

// Appends one record per handle (RecordField, js_arrays.h). With
// `with_objects`, each names the shared object it calls back into, as an
// index into objects->Names(); else -1.
void Snapshot(LoopState* state, SharedObjectIndex* objects, bool with_objects,
              std::vector<double>* out);

// The floor for benchmarks: a read-only traversal that only counts.
size_t BareTraversal(uv_loop_t* loop);

}  // namespace uvdrain

#endif
