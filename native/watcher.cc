// The drain watcher (watcher.h): its prepare handle, the recount of watched
// owners and the callback into JS.
#include "watcher.h"

#include <algorithm>

namespace uvdrain {

namespace {

// Where the prepare handle's close callback finds what it must release.
struct PrepareBox {
  uv_prepare_t handle;
  DrainWatcher* watcher;
  napi_async_cleanup_hook_handle hook;
};

bool SameCounts(const Counts& a, const Counts& b) {
  return a.total == b.total && a.active == b.active && a.ref == b.ref && a.closing == b.closing;
}

}  // namespace

DrainWatcher::DrainWatcher(napi_env env, LoopState* state) : env_(env), state_(state) {
  // Both fail while a worker is terminated during require(): the watcher
  // then never calls into JS (async_context_ stays null).
  napi_value name;
  if (napi_create_string_utf8(env, "uv-drain:watcher", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, nullptr, name, &async_context_) != napi_ok) {
    async_context_ = nullptr;
  }
}

DrainWatcher::~DrainWatcher() {
  // By now the async cleanup hook has closed the handle (Node runs those
  // before it finalizes instance data); just make sure the box forgets us.
  // See docs/libuv-internals.md, "Node facts" (teardown).
  if (prepare_ != nullptr) reinterpret_cast<PrepareBox*>(prepare_)->watcher = nullptr;
  if (async_context_ != nullptr) napi_async_destroy(env_, async_context_);
}

void DrainWatcher::SetCallback(Napi::Function callback) {
  callback_ = Napi::Persistent(callback);
}

void DrainWatcher::Watch(uint32_t id) {
  for (const Watched& w : watched_)
    if (w.id == id) return;
  // Start from "unknown" so the first iteration always reports.
  Counts unknown;
  unknown.total = UINT32_MAX;
  watched_.push_back(Watched{id, unknown, -1});
  Start();
  Recount();
}

void DrainWatcher::Unwatch(uint32_t id) {
  watched_.erase(std::remove_if(watched_.begin(), watched_.end(),
                                [id](const Watched& w) { return w.id == id; }),
                 watched_.end());
  if (watched_.empty()) Close();
}

void DrainWatcher::Start() {
  if (prepare_ != nullptr || tearing_down_) return;
  auto* box = new PrepareBox{};
  box->watcher = this;
  uv_prepare_init(state_->loop(), &box->handle);
  uv_prepare_start(&box->handle, OnPrepareThunk);
  // Unref'd: watching alone must never keep the process alive.
  uv_unref(reinterpret_cast<uv_handle_t*>(&box->handle));
  // The plain env cleanup hook is too late for a handle (the addon may be
  // unloaded before the close callback runs, crashing workers); the async
  // hook lets the close complete first (see docs/libuv-internals.md, "Node
  // facts", teardown).
  napi_add_async_cleanup_hook(env_, OnEnvTeardown, box, &box->hook);
  prepare_ = &box->handle;
}

void DrainWatcher::Close() {
  if (prepare_ == nullptr) return;
  auto* box = reinterpret_cast<PrepareBox*>(prepare_);
  box->watcher = nullptr;
  prepare_ = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&box->handle), OnClosed);
}

void DrainWatcher::OnEnvTeardown(napi_async_cleanup_hook_handle, void* arg) {
  auto* box = static_cast<PrepareBox*>(arg);
  if (box->watcher != nullptr) {
    box->watcher->tearing_down_ = true;
    box->watcher->Close();  // clears box->watcher, closes the handle
  }
}

void DrainWatcher::OnClosed(uv_handle_t* handle) {
  auto* box = reinterpret_cast<PrepareBox*>(handle);
  napi_remove_async_cleanup_hook(box->hook);
  delete box;
}

void DrainWatcher::OnPrepareThunk(uv_prepare_t* handle) {
  auto* box = reinterpret_cast<PrepareBox*>(handle);
  if (box->watcher != nullptr) box->watcher->OnPrepare();
}

bool DrainWatcher::LastCounts(uint32_t id, Counts* counts, int64_t* requests) const {
  for (const Watched& w : watched_) {
    if (w.id != id || w.last_requests < 0) continue;
    *counts = w.last;
    *requests = w.last_requests;
    return true;
  }
  return false;
}

bool DrainWatcher::Recount() {
  bool changed = false;
  bool hold = false;
  if (!watched_.empty()) {
    // Counted into each Watched entry: no allocation per iteration.
    for (Watched& w : watched_) {
      w.now = Counts();
      w.held = 0;
    }
    auto add = [&](size_t i, const uv_handle_t* h) {
      watched_[i].now.Add(h);
      if ((h->flags & (kFlagActive | kFlagRef)) == (kFlagActive | kFlagRef)) watched_[i].held++;
    };
    const OwnerIndex& index = state_->Index();
    if (index.Valid()) {
      // Each owner's own handles: the cost of what the watched owners hold.
      for (size_t i = 0; i < watched_.size(); i++) {
        if (const auto* handles = index.HandlesOf(state_->IndexOf(watched_[i].id)))
          for (const uv_handle_t* h : *handles) add(i, h);
      }
    } else {
      // One walk for all watched owners (there are few).
      ForEachHandle(state_->loop(), [&](uv_handle_t* h) {
        if (!(h->flags & kFlagTagged)) return;
        uint32_t tag = TagOf(h);
        for (size_t i = 0; i < watched_.size(); i++) {
          if (watched_[i].id != tag) continue;
          add(i, h);
          break;
        }
      });
    }
    for (Watched& w : watched_) {
      int64_t requests = state_->Requests(w.id);
      if (!SameCounts(w.now, w.last) || requests != w.last_requests) {
        changed = true;
        // Remembered until the next prepare callback reports it: a recount
        // made from JS (watch, unwatch, JS state) must not swallow a change
        // some other watcher of the owner has not heard of yet.
        dirty_ = true;
        w.last = w.now;
        w.last_requests = requests;
      }
      hold = hold || w.now.closing > 0 || requests > 0 || w.held > 0;
    }
  }
  // A loop with nothing else to do ends right after the closing phase,
  // before any prepare callback could see the drain. So while a
  // watched owner has something that can still call back into it — a
  // closing handle, a request in flight, or an active referenced handle
  // (which holds the loop anyway) — the watcher holds the loop too, until
  // the iteration after the last of them. Unref'd otherwise: waiting on an
  // owner's unref'd handles alone must not keep the process alive. See
  // docs/libuv-internals.md, "Loop iteration and the drain watcher".
  if (prepare_ != nullptr) {
    uv_handle_t* h = reinterpret_cast<uv_handle_t*>(prepare_);
    if (hold || hold_js_)
      uv_ref(h);
    else
      uv_unref(h);
  }
  return changed;
}

void DrainWatcher::OnPrepare() {
  iteration_++;
  Recount();
  bool changed = dirty_;
  dirty_ = false;
  if ((changed || every_iteration_) && !callback_.IsEmpty() && async_context_ != nullptr) {
    napi_handle_scope scope;
    if (napi_open_handle_scope(env_, &scope) != napi_ok) return;
    napi_value fn = callback_.Value();
    napi_value global, arg, result;
    napi_get_global(env_, &global);
    napi_create_double(env_, static_cast<double>(iteration_), &arg);
    napi_status status = napi_make_callback(env_, async_context_, global, fn, 1, &arg, &result);
    if (status == napi_pending_exception) {
      // A real exception goes to process 'uncaughtException'. A worker being
      // terminated also answers napi_pending_exception, with no exception
      // to get: then there is nothing to report and no JS to run.
      napi_value error = nullptr;
      napi_valuetype type = napi_undefined;
      if (napi_get_and_clear_last_exception(env_, &error) == napi_ok && error != nullptr &&
          napi_typeof(env_, error, &type) == napi_ok && type != napi_undefined) {
        napi_fatal_exception(env_, error);
      }
    }
    napi_close_handle_scope(env_, scope);
  }
}

}  // namespace uvdrain
