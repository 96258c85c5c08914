#include "loop_state.h"

#include <random>

namespace uvdrain {

namespace {

std::unordered_map<uv_loop_t*, LoopState*>& Loops() {
  static auto* loops = new std::unordered_map<uv_loop_t*, LoopState*>();
  return *loops;
}

uint32_t NewSalt() {
  static std::atomic<uint32_t> counter{std::random_device{}()};
  uint32_t salt = (counter.fetch_add(0x9e3u) * 2654435761u) >> kIndexBits;
  if (salt == 0) salt = 1;
  return salt << kIndexBits;
}

}  // namespace

std::mutex& RegistryMutex() {
  static auto* mu = new std::mutex();
  return *mu;
}

LoopState* FindLoopLocked(uv_loop_t* loop) {
  auto it = Loops().find(loop);
  return it == Loops().end() ? nullptr : it->second;
}

void RegisterLoop(LoopState* state) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  Loops()[state->loop()] = state;
}

void UnregisterLoop(LoopState* state) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  auto it = Loops().find(state->loop());
  if (it != Loops().end() && it->second == state) Loops().erase(it);
}

LoopState::LoopState(uv_loop_t* loop)
    : loop_(loop), thread_(uv_thread_self()), salt_(NewSalt()) {
  owners_.emplace_back();
}

LoopState::~LoopState() = default;

bool LoopState::OnLoopThread() const {
  uv_thread_t self = uv_thread_self();
  return uv_thread_equal(&self, &thread_) != 0;
}

int LoopState::OwnerId(const char* name, size_t len, uint32_t* out) {
  if (name == nullptr || out == nullptr || len == 0 || len > kMaxOwnerName)
    return UV_EINVAL;
  std::string key(name, len);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_name_.find(key);
  if (it != by_name_.end()) {
    *out = IdOfIndex(it->second);
    return 0;
  }
  if (owners_.size() > kMaxOwners) return UV_ENOSPC;
  uint32_t index = static_cast<uint32_t>(owners_.size());
  owners_.emplace_back();
  owners_.back().name = key;
  by_name_.emplace(std::move(key), index);
  *out = IdOfIndex(index);
  return 0;
}

bool LoopState::ValidOwner(uint32_t id) const {
  if ((id & ~kIndexMask) != salt_) return false;
  uint32_t index = id & kIndexMask;
  std::lock_guard<std::mutex> lock(mu_);
  return index != 0 && index < owners_.size();
}

size_t LoopState::OwnerCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return owners_.size();
}

std::string LoopState::OwnerName(uint32_t index) const {
  std::lock_guard<std::mutex> lock(mu_);
  return index < owners_.size() ? owners_[index].name : std::string();
}

int LoopState::RequestBegin(uint32_t id) {
  if (!ValidOwner(id)) return UV_EINVAL;
  std::lock_guard<std::mutex> lock(mu_);
  owners_[IndexOf(id)].requests.fetch_add(1, std::memory_order_relaxed);
  return 0;
}

int LoopState::RequestEnd(uint32_t id) {
  if (!ValidOwner(id)) return UV_EINVAL;
  std::lock_guard<std::mutex> lock(mu_);
  std::atomic<int64_t>& n = owners_[IndexOf(id)].requests;
  int64_t cur = n.load(std::memory_order_relaxed);
  do {
    if (cur <= 0) return UV_EINVAL;  // an end without its begin
  } while (!n.compare_exchange_weak(cur, cur - 1, std::memory_order_relaxed));
  return 0;
}

int64_t LoopState::Requests(uint32_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  uint32_t index = IndexOf(id);
  if (index == 0 || index >= owners_.size()) return 0;
  return owners_[index].requests.load(std::memory_order_relaxed);
}

int LoopState::Tag(uv_handle_t* h, uint32_t id) {
  if (h == nullptr || h->loop != loop_ || !OnLoopThread()) return UV_EINVAL;
  if (h->type <= UV_UNKNOWN_HANDLE || h->type >= UV_HANDLE_TYPE_MAX)
    return UV_EINVAL;
  if (IsClosing(h) || (h->flags & kFlagInternal)) return UV_EINVAL;
  if (id == 0) {
    ClearTag(h);
    return 0;
  }
  if (!ValidOwner(id)) return UV_EINVAL;
  SetTag(h, id);
  return 0;
}

Counts LoopState::CountsFor(uint32_t id) const {
  Counts c;
  ForEachHandle(loop_, [&](uv_handle_t* h) {
    if ((h->flags & kFlagTagged) && TagOf(h) == id) c.Add(h);
  });
  return c;
}

void LoopState::NoteBirth(uint32_t id, uv_handle_type type, bool deferred) {
  ResolveBirths(false);
  if (deferred) {
    // Node creates a process/fs_event handle in the call right after the
    // wrap's constructor; an older announcement of the same type that is
    // still unmatched belongs to a spawn or start that failed.
    for (auto it = births_.begin(); it != births_.end();) {
      if (it->deferred && it->type == type)
        it = births_.erase(it);
      else
        ++it;
    }
  }
  births_.push_back(Birth{id, type, HandleQueue(loop_)->prev, deferred});
}

void LoopState::ResolveBirths(bool final) {
  if (births_.empty()) return;
  QueueNode* head = HandleQueue(loop_);
  for (auto it = births_.begin(); it != births_.end();) {
    uv_handle_t* match = nullptr;
    for (QueueNode* q = it->after->next; q != head; q = q->next) {
      uv_handle_t* h = HandleOfNode(q);
      if (h->type != it->type || (h->flags & (kFlagInternal | kFlagTagged)))
        continue;
      match = h;
      break;
    }
    if (match != nullptr) {
      // Tagged even if already closing: its close callback is owner code.
      SetTag(match, it->owner);
      it = births_.erase(it);
    } else {
      ++it;
    }
  }
  if (final) births_.clear();
}

}  // namespace uvdrain
