// The owner index (owner_index.h): the sets, the check handle kept last, the
// close-callback trampoline and the rebuild.
#include "owner_index.h"

#include <mutex>

#include "uv_layout.h"

namespace uvdrain {

namespace {

// The trampoline finds its index by the handle's loop (one index per loop).
std::mutex& IndexesMutex() {
  static std::mutex mu;
  return mu;
}

std::unordered_map<uv_loop_t*, OwnerIndex*>& Indexes() {
  static auto* map = new std::unordered_map<uv_loop_t*, OwnerIndex*>();
  return *map;
}

}  // namespace

// The two handles and what their callbacks need; freed once both are closed.
struct OwnerIndex::Box {
  uv_check_t check;
  uv_prepare_t prepare;
  OwnerIndex* index;
  napi_async_cleanup_hook_handle hook;
  int open;
};

OwnerIndex::~OwnerIndex() {
  // Normally Stop() ran from the teardown hook, before Node finalized the
  // addon. If not, the loop may be gone: the handles are only disowned.
  Stop(false);
}

void OwnerIndex::Start(napi_env env) {
  if (box_ != nullptr || stopped_) return;
  auto* box = new Box{};
  box->index = this;
  uv_check_init(loop_, &box->check);
  uv_prepare_init(loop_, &box->prepare);
  for (uv_handle_t* h : {reinterpret_cast<uv_handle_t*>(&box->check),
                         reinterpret_cast<uv_handle_t*>(&box->prepare)}) {
    h->data = box;
    // Internal, as libuv's own handles are: uv_walk (Node's report), the
    // loop-close check and uv-drain's walks skip it.
    h->flags |= kFlagInternal;
  }
  uv_check_start(&box->check, [](uv_check_t* c) {
    auto* b = static_cast<Box*>(c->data);
    if (b->index != nullptr) b->index->OnCheck();
  });
  uv_prepare_start(&box->prepare, [](uv_prepare_t* p) {
    auto* b = static_cast<Box*>(p->data);
    if (b->index != nullptr) b->index->OnPrepare();
  });
  uv_unref(reinterpret_cast<uv_handle_t*>(&box->check));
  uv_unref(reinterpret_cast<uv_handle_t*>(&box->prepare));
  box->open = 2;
  napi_add_async_cleanup_hook(env, OnTeardown, box, &box->hook);
  box_ = box;
  std::lock_guard<std::mutex> lock(IndexesMutex());
  Indexes()[loop_] = this;
}

void OwnerIndex::OnTeardown(napi_async_cleanup_hook_handle, void* arg) {
  auto* box = static_cast<Box*>(arg);
  if (box->index != nullptr) box->index->Stop(true);
}

void OwnerIndex::Stop(bool close) {
  if (stopped_) return;
  stopped_ = true;
  Invalidate();
  {
    std::lock_guard<std::mutex> lock(IndexesMutex());
    auto it = Indexes().find(loop_);
    if (it != Indexes().end() && it->second == this) Indexes().erase(it);
  }
  // Every hooked handle is still on a closing list, not yet finished: its
  // own callback goes back before the trampoline loses its index.
  for (auto& [h, cb] : hooked_) h->close_cb = cb;
  hooked_.clear();
  if (box_ == nullptr) return;
  Box* box = box_;
  box_ = nullptr;
  box->index = nullptr;
  if (!close) return;
  auto closed = [](uv_handle_t* h) {
    auto* b = static_cast<Box*>(h->data);
    if (--b->open > 0) return;
    napi_remove_async_cleanup_hook(b->hook);
    delete b;
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&box->check), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&box->prepare), closed);
}

void OwnerIndex::Retag(uv_handle_t* h, uint32_t from, uint32_t to) {
  if (!valid_ || from == to) return;
  if (from != 0 && from < owners_.size()) owners_[from].erase(h);
  if (to == 0) return;
  if (to >= owners_.size()) owners_.resize(to + 1);
  owners_[to].insert(h);
  // Claimed while already closing (a JS birth matched late): it may be on
  // this iteration's closing list already, past the check callback.
  if (IsClosing(h)) Hook(h);
}

uv_close_cb OwnerIndex::CloseCallbackOf(const uv_handle_t* h) {
  if (h->close_cb != Finished) return h->close_cb;
  std::lock_guard<std::mutex> lock(IndexesMutex());
  auto it = Indexes().find(h->loop);
  if (it == Indexes().end()) return nullptr;
  auto hooked = it->second->hooked_.find(const_cast<uv_handle_t*>(h));
  return hooked != it->second->hooked_.end() ? hooked->second : nullptr;
}

void OwnerIndex::Invalidate() {
  valid_ = false;
  // Dropped unread: some of these handles may be gone.
  owners_.clear();
}

void OwnerIndex::OnPrepare() {
  if (++prepares_since_check_ > 1) {
    // A second prepare before our check: a uv_run nested in a check
    // callback that runs before ours. Its closing phase will finish handles
    // no check of ours has seen, so let go of every pointer now (its prepare
    // phase comes before its first closing phase). Our check handle is in
    // the outer check phase's private queue: leave it there.
    Invalidate();
    return;
  }
  // Check handles run most recently started first: the one started last
  // would run after ours and could close a handle we never see. Ours goes
  // back to the tail (outside any check phase, the queue is the loop's).
  QueueNode* head = reinterpret_cast<QueueNode*>(&loop_->check_handles);
  QueueNode* node = reinterpret_cast<QueueNode*>(&box_->check.queue);
  if (head->prev == node) return;
  node->prev->next = node->next;
  node->next->prev = node->prev;
  node->next = head;
  node->prev = head->prev;
  head->prev->next = node;
  head->prev = node;
}

void OwnerIndex::OnCheck() {
  // Exactly one prepare since the last check: this check phase began with
  // our handle at the tail, so nothing runs after us before the closing phase.
  bool plain = prepares_since_check_ == 1;
  prepares_since_check_ = 0;
  if (!plain) {
    Invalidate();
    return;
  }
  if (!valid_) {
    Rebuild();
    return;
  }
  for (uv_handle_t* h = loop_->closing_handles; h != nullptr; h = h->next_closing) {
    if ((h->flags & kFlagTagged) && (TagOf(h) & kIndexMask) != 0) Hook(h);
  }
}

void OwnerIndex::Rebuild() {
  owners_.clear();
  ForEachHandle(loop_, [&](uv_handle_t* h) {
    uint32_t index = TagOf(h) & kIndexMask;
    if (index == 0) return;
    if (index >= owners_.size()) owners_.resize(index + 1);
    owners_[index].insert(h);
    if (IsClosing(h)) Hook(h);
  });
  valid_ = true;
  rebuilds_++;
}

void OwnerIndex::Hook(uv_handle_t* h) {
  if (h->close_cb == Finished) return;
  hooked_.emplace(h, h->close_cb);
  h->close_cb = Finished;
}

void OwnerIndex::Finished(uv_handle_t* h) {
  // Called by uv__finish_close: h is out of the loop's queue and still valid.
  uv_close_cb cb = nullptr;
  {
    std::lock_guard<std::mutex> lock(IndexesMutex());
    auto it = Indexes().find(h->loop);
    if (it != Indexes().end()) {
      OwnerIndex* self = it->second;
      auto hooked = self->hooked_.find(h);
      if (hooked != self->hooked_.end()) {
        cb = hooked->second;
        self->hooked_.erase(hooked);
      }
      uint32_t index = TagOf(h) & kIndexMask;
      if (index != 0 && index < self->owners_.size()) self->owners_[index].erase(h);
    }
  }
  h->close_cb = cb;
  if (cb != nullptr) cb(h);
}

}  // namespace uvdrain
