// A C module's paced wrap-up (c_module_later.h).
#include "c_module_later.h"

#include <utility>

#include "capi.h"
#include "loop_state.h"
#include "pacer.h"

namespace uvdrain {

namespace {

// The module's share left in this iteration (Pacer::Left), UV_DRAIN_UNPACED
// when it is not paced or uv-drain is no longer on its loop.
uint64_t ShareLeft(const uv_drain_module_ctx_t* ctx) {
  uint64_t left = UV_DRAIN_UNPACED;
  WithLoop(ctx->loop, [&](LoopState* state) {
    left = state->Pacing().Left(ctx->owner);
    return 0;
  });
  static_assert(UV_DRAIN_UNPACED == Pacer::kUnpaced, "one value for not paced");
  return left;
}

uint64_t BudgetLeft(uv_drain_module_ctx_t* ctx) {
  const Continuations* later = reinterpret_cast<PacedContext*>(ctx)->later;
  // Off the loop's thread there is no iteration to have a share of.
  if (later == nullptr || !later->OnLoopThread()) return 0;
  return ShareLeft(ctx);
}

int ContinueLater(uv_drain_module_ctx_t* ctx, uv_drain_module_later_fn fn) {
  Continuations* later = reinterpret_cast<PacedContext*>(ctx)->later;
  return later == nullptr ? UV_EINVAL : later->Ask(fn);
}

}  // namespace

struct Continuations::Runner {
  uv_check_t check;
  uv_idle_t idle;
  Continuations* of;
  napi_async_cleanup_hook_handle hook = nullptr;
  int open = 0;  // handles initialised and not through their close callback
  bool closing = false;
};

Continuations::Continuations(napi_env env, PacedContext* paced) : env_(env), paced_(paced), thread_(uv_thread_self()) {
  paced->later = this;
  paced->ctx.budget_left = BudgetLeft;
  paced->ctx.continue_later = ContinueLater;
}

bool Continuations::OnLoopThread() const {
  uv_thread_t self = uv_thread_self();
  return uv_thread_equal(&self, &thread_) != 0;
}

int Continuations::Ask(uv_drain_module_later_fn fn) {
  if (fn == nullptr) return UV_EINVAL;
  if (!OnLoopThread()) return UV_EPERM;
  if (runner_ == nullptr) {
    int rc = Start();
    if (rc != 0) return rc;
  }
  queue_.push_back({fn, LoopCount(paced_->ctx.loop)});
  return 0;
}

// Makes, tags and starts the two handles, and watches for the end of the
// environment (which must not find them open).
int Continuations::Start() {
  uv_loop_t* loop = paced_->ctx.loop;
  const uv_drain_api_t* api = CApiTable();
  auto* r = new Runner();
  r->of = this;
  int rc = uv_check_init(loop, &r->check);
  if (rc != 0) {
    delete r;
    return rc;
  }
  r->check.data = r;
  r->open = 1;
  rc = uv_idle_init(loop, &r->idle);
  if (rc == 0) {
    r->idle.data = r;
    r->open = 2;
    rc = api->tag(reinterpret_cast<uv_handle_t*>(&r->check), paced_->ctx.owner);
  }
  if (rc == 0) rc = api->tag(reinterpret_cast<uv_handle_t*>(&r->idle), paced_->ctx.owner);
  if (rc == 0) rc = uv_check_start(&r->check, OnCheck);
  // The idle callback does nothing: an active idle handle makes the poll
  // phase return at once instead of blocking.
  if (rc == 0) rc = uv_idle_start(&r->idle, [](uv_idle_t*) {});
  if (rc == 0 && napi_add_async_cleanup_hook(env_, OnEnvEnd, r, &r->hook) != napi_ok) rc = UV_ENOMEM;
  runner_ = r;
  if (rc != 0) Stop(r);
  return rc;
}

void Continuations::OnCheck(uv_check_t* check) {
  Runner* r = reinterpret_cast<Runner*>(reinterpret_cast<char*>(check) - offsetof(Runner, check));
  r->of->Run();
}

// The continuations asked for before this iteration's poll, in order. One
// asked in this check phase (by a continuation, or by a check callback
// that ran before this one) waits for the next.
void Continuations::Run() {
  uint64_t now = LoopCount(paced_->ctx.loop);
  size_t ready = 0;
  while (ready < queue_.size() && queue_[ready].since < now) ready++;
  if (ready > 0) {
    std::vector<Asked> run(queue_.begin(), queue_.begin() + ready);
    queue_.erase(queue_.begin(), queue_.begin() + ready);
    // The share's clock of this iteration starts before the first of them.
    ShareLeft(&paced_->ctx);
    for (const Asked& a : run) a.fn(&paced_->ctx);
  }
  if (queue_.empty() && runner_ != nullptr) Stop(runner_);
}

void Continuations::Stop(Runner* r) {
  if (r == runner_) runner_ = nullptr;
  r->closing = true;
  closing_++;
  uv_close(reinterpret_cast<uv_handle_t*>(&r->check), OnClosed);
  if (r->open == 2) uv_close(reinterpret_cast<uv_handle_t*>(&r->idle), OnClosed);
}

void Continuations::OnClosed(uv_handle_t* h) {
  Runner* r = static_cast<Runner*>(h->data);
  if (--r->open > 0) return;
  r->of->closing_--;
  if (r->hook != nullptr) napi_remove_async_cleanup_hook(r->hook);
  delete r;
}

// The environment ends (a worker terminated, the process exits): what is
// pending is dropped, and the handles closed so that the loop can close.
void Continuations::OnEnvEnd(napi_async_cleanup_hook_handle, void* arg) {
  Runner* r = static_cast<Runner*>(arg);
  if (r->closing) return;  // OnClosed removes the hook
  r->of->queue_.clear();
  r->of->Stop(r);
}

}  // namespace uvdrain
