// The drain watcher: one uv_prepare handle per environment, started only
// while some owner is being watched. Prepare callbacks run once per loop
// iteration, right before the poll, so an owner whose last close callback
// ran in one iteration is seen drained at the start of the next one — with
// no extra wake-ups: a prepare handle never shortens the poll timeout, where
// an idle handle (or setImmediate) would spin a core. See
// docs/libuv-internals.md, "Loop iteration and the drain watcher".
#ifndef UV_DRAIN_WATCHER_H
#define UV_DRAIN_WATCHER_H

#include <napi.h>
#include <node_api.h>

#include <vector>

#include "loop_state.h"

namespace uvdrain {

class DrainWatcher {
 public:
  DrainWatcher(napi_env env, LoopState* state);
  ~DrainWatcher();

  // `callback(iteration)` is called from the prepare callback when a watched
  // owner's handle counts or native requests changed since the last
  // iteration, or on every iteration while `every_iteration` is set (the JS
  // side has timers or JS requests to re-count, which libuv cannot see).
  void SetCallback(Napi::Function callback);
  void Watch(uint32_t id);
  void Unwatch(uint32_t id);
  // `every_iteration`: call back on every iteration (JS has timers or JS
  // requests of a watched owner to re-count). `hold_js`: JS has something
  // of a watched owner that can still call back, so hold the loop.
  void SetJsState(bool every_iteration, bool hold_js) {
    every_iteration_ = every_iteration;
    // Only a change of hold_js can change the handle's ref: no walk otherwise.
    if (hold_js == hold_js_) return;
    hold_js_ = hold_js;
    Recount();
  }
  // The counts and native requests of watched owner `id` as of the last
  // recount (every callback to JS follows one). False if `id` is not
  // watched.
  bool LastCounts(uint32_t id, Counts* counts, int64_t* requests) const;
  // Recounts now (after JS ran owner code) and sets the handle's ref.
  // Returns whether a watched owner's counts changed.
  bool Recount();
  uint64_t Iteration() const { return iteration_; }
  bool HasHandle() const { return prepare_ != nullptr; }

 private:
  struct Watched {
    uint32_t id;
    Counts last;
    int64_t last_requests;
    // The recount under way: counts, and active referenced handles.
    Counts now{};
    uint32_t held = 0;
  };

  void Start();
  void Close();
  void OnPrepare();
  static void OnPrepareThunk(uv_prepare_t* handle);
  static void OnClosed(uv_handle_t* handle);
  static void OnEnvTeardown(napi_async_cleanup_hook_handle hook, void* arg);

  napi_env env_;
  LoopState* state_;
  uv_prepare_t* prepare_ = nullptr;
  napi_async_cleanup_hook_handle cleanup_hook_ = nullptr;
  bool tearing_down_ = false;
  bool every_iteration_ = false;
  bool hold_js_ = false;
  bool dirty_ = false;  // counts changed since the last callback to JS
  uint64_t iteration_ = 0;
  std::vector<Watched> watched_;
  Napi::FunctionReference callback_;
  napi_async_context async_context_ = nullptr;
};

}  // namespace uvdrain

#endif
