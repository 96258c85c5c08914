// A C module's paced wrap-up (native/include/uv_drain_module.h, "Paced
// wrap-up"): ctx->budget_left and ctx->continue_later, and the two handles
// that run the continuations a module asked for.
//
// The handles (a uv_idle_t, so that the loop polls without blocking while
// something waits, and a uv_check_t that runs the continuations right after
// a poll) are uv-drain's memory and code, tagged with the module's owner:
// while they live the module is not drained. They are made by the first
// continue_later and closed once no continuation is pending, so nothing of
// this is on the loop otherwise.
#ifndef UV_DRAIN_C_MODULE_LATER_H
#define UV_DRAIN_C_MODULE_LATER_H

#include <node_api.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "uv_drain_module.h"

namespace uvdrain {

class Continuations;

// The context a C module is given: ctx first, so that the ctx pointer the
// module hands back to budget_left/continue_later leads to its
// continuations.
struct PacedContext {
  uv_drain_module_ctx_t ctx{};
  Continuations* later = nullptr;
};
static_assert(std::is_standard_layout<PacedContext>::value && offsetof(PacedContext, ctx) == 0,
              "a ctx pointer must be a PacedContext pointer");

// The continuations of one module. Made and used on the loop's thread only.
class Continuations {
 public:
  // Fills ctx's budget_left and continue_later; `env` is the environment
  // whose end drops what is pending.
  Continuations(napi_env env, PacedContext* paced);
  Continuations(const Continuations&) = delete;
  Continuations& operator=(const Continuations&) = delete;

  // continue_later: 0, UV_EINVAL (fn NULL), UV_EPERM (off the loop's
  // thread), or the libuv error of making the handles.
  int Ask(uv_drain_module_later_fn fn);
  // Continuations asked for that have not run.
  size_t Pending() const { return queue_.size(); }
  // Nothing pending and no handle of ours on the loop, closing ones included:
  // the module's memory may go.
  bool Idle() const { return runner_ == nullptr && closing_ == 0; }
  bool OnLoopThread() const;

 private:
  struct Runner;
  struct Asked {
    uv_drain_module_later_fn fn;
    uint64_t since;  // the loop_count it was asked in
  };
  int Start();
  void Run();
  void Stop(Runner* r);
  static void OnCheck(uv_check_t* check);
  static void OnClosed(uv_handle_t* h);
  static void OnEnvEnd(napi_async_cleanup_hook_handle hook, void* arg);

  napi_env env_;
  PacedContext* paced_;
  uv_thread_t thread_;
  std::vector<Asked> queue_;
  Runner* runner_ = nullptr;  // running, not closing
  unsigned closing_ = 0;      // runners closing
};

}  // namespace uvdrain

#endif
