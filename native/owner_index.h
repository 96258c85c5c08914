// The owner index: each owner's live tagged handles, kept exact without
// walking the loop, so that counting an owner (countsFor, the C API's counts,
// the drain watcher's recount) costs what the owner holds, not what the loop
// holds. See docs/libuv-internals.md, "The owner index".
//
// A handle enters the index when it is tagged and leaves it when libuv
// finishes closing it. That happens only in the closing phase at the end of
// an iteration, to the handles on loop->closing_handles, and right after
// the check phase. So a check handle kept last in the check queue sees, in
// that list, every handle the coming closing phase will finish, while each
// is still valid; for each indexed one it puts a trampoline in place of the
// close callback, which drops the handle from the index, puts the callback
// back and calls it. A handle closed during the closing phase joins the
// next iteration's list. The index is rebuilt by one walk of the loop when
// it cannot vouch for itself (its first iteration, a nested uv_run inside a
// check callback); until then it is not valid and counting walks the loop.
#ifndef UV_DRAIN_OWNER_INDEX_H
#define UV_DRAIN_OWNER_INDEX_H

#include <node_api.h>
#include <uv.h>

#include <cstdint>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace uvdrain {

// Owner ids: low 20 bits index (1-based), high 12 bits a per-loop salt, so
// an id from another loop (or a stale one) is rejected instead of silently
// naming some other owner. The index keeps owners by index.
constexpr uint32_t kIndexBits = 20;
constexpr uint32_t kIndexMask = (1u << kIndexBits) - 1;

class OwnerIndex {
 public:
  explicit OwnerIndex(uv_loop_t* loop) : loop_(loop) {}
  ~OwnerIndex();
  OwnerIndex(const OwnerIndex&) = delete;
  OwnerIndex& operator=(const OwnerIndex&) = delete;

  // Starts the check and prepare handles that keep the index exact. They are
  // libuv-internal (no walk, no report and no loop-alive check sees them),
  // unreferenced, and closed when the environment tears down.
  void Start(napi_env env);
  // Whether the sets are exact now; if not, count by walking the loop.
  bool Valid() const { return valid_; }
  // `h`'s tag went from owner index `from` to `to` (0: nobody). Loop thread.
  void Retag(uv_handle_t* h, uint32_t from, uint32_t to);
  // The live handles of owner index `index`; only meaningful when Valid().
  const std::unordered_set<uv_handle_t*>* HandlesOf(uint32_t index) const {
    return index < owners_.size() ? &owners_[index] : nullptr;
  }
  // The close callback libuv will call for `h` (any loop's): the one a
  // trampoline stands in for, or h->close_cb. Loop thread of `h`.
  static uv_close_cb CloseCallbackOf(const uv_handle_t* h);
  // Full rebuilds so far (tests: the index recovers, and how often).
  uint64_t Rebuilds() const { return rebuilds_; }

 private:
  struct Box;

  void OnPrepare();
  void OnCheck();
  void Invalidate();
  void Rebuild();
  void Hook(uv_handle_t* h);
  // Restores every hooked close callback and stops (the environment is
  // going); with `close`, closes the two handles too.
  void Stop(bool close);
  static void Finished(uv_handle_t* h);
  static void OnTeardown(napi_async_cleanup_hook_handle hook, void* arg);

  uv_loop_t* loop_;
  Box* box_ = nullptr;
  bool valid_ = false;
  bool stopped_ = false;
  // Prepare callbacks since the last check callback: 1 in a plain iteration.
  unsigned prepares_since_check_ = 0;
  uint64_t rebuilds_ = 0;
  std::vector<std::unordered_set<uv_handle_t*>> owners_;
  // Handles whose close callback is the trampoline, with the callback it stands in for.
  std::unordered_map<uv_handle_t*, uv_close_cb> hooked_;
};

}  // namespace uvdrain

#endif
