// Where a loaded C module lies in memory, and the live handles of a loop that
// hold it there: see docs/libuv-internals.md, "C modules: segments and
// dlclose".
#ifndef UV_DRAIN_C_MODULE_RANGES_H
#define UV_DRAIN_C_MODULE_RANGES_H

#include <uv.h>

#include <cstdint>
#include <vector>

namespace uvdrain {

struct Range {
  uintptr_t start, end;  // [start, end)
};

// The PT_LOAD segments of the object `dl` (from dlopen) in *out; false when
// they cannot be found.
bool SegmentsOf(void* dl, std::vector<Range>* out);

// An AddressField row (js_arrays.h) per live handle of `loop`, closing ones
// included and whoever owns it, that lies inside `ranges` (a static uv_*_t of
// the module) or keeps a callback there (ForEachCallback, callbacks.h), in
// the loop's order.
std::vector<double> HandlesInside(uv_loop_t* loop, const std::vector<Range>& ranges);

}  // namespace uvdrain

#endif
