// Per-loop state (loop_state.h): the registry of loops, owner ids and their
// salts, tags, and the matching of announced births to their handles.
#include "loop_state.h"

#include <random>

namespace uvdrain {

namespace {

std::unordered_map<uv_loop_t*, LoopState*>& Loops() {
  static auto* loops = new std::unordered_map<uv_loop_t*, LoopState*>();
  return *loops;
}

// A salt no live loop uses (called with the registry locked), so an owner id
// of one live loop is never valid on another. Past 4095 live loops salts
// repeat and ids of two loops could collide.
uint32_t FreeSaltLocked() {
  static uint32_t next = std::random_device{}();
  constexpr uint32_t kSalts = (1u << (32 - kIndexBits)) - 1;  // 1..4095
  for (uint32_t tries = 0; tries < kSalts; tries++) {
    uint32_t salt = ((next++ % kSalts) + 1) << kIndexBits;
    bool used = false;
    for (auto& entry : Loops()) used = used || entry.second->Salt() == salt;
    if (!used) return salt;
  }
  return ((next++ % kSalts) + 1) << kIndexBits;
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

bool ValidOwnerName(const char* name, size_t len) {
  if (name == nullptr || len == 0 || len > kMaxOwnerBytes) return false;
  // Strict UTF-8 (no NUL, overlongs, surrogates or code points past
  // U+10FFFF), so that the name JavaScript reads back is byte for byte the
  // name C gave.
  const auto* p = reinterpret_cast<const unsigned char*>(name);
  size_t units = 0;
  for (size_t i = 0; i < len;) {
    uint32_t c = p[i];
    size_t extra;
    uint32_t min;
    if (c == 0) return false;
    if (c < 0x80) { extra = 0; min = 0; }
    else if ((c & 0xe0) == 0xc0) { extra = 1; min = 0x80; c &= 0x1f; }
    else if ((c & 0xf0) == 0xe0) { extra = 2; min = 0x800; c &= 0x0f; }
    else if ((c & 0xf8) == 0xf0) { extra = 3; min = 0x10000; c &= 0x07; }
    else return false;
    if (extra > len - i - 1) return false;
    for (size_t k = 1; k <= extra; k++) {
      if ((p[i + k] & 0xc0) != 0x80) return false;
      c = (c << 6) | (p[i + k] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return false;
    units += c >= 0x10000 ? 2 : 1;  // a surrogate pair in JavaScript
    i += extra + 1;
  }
  return units <= kMaxOwnerChars;
}

void RegisterLoop(LoopState* state) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  state->SetSalt(FreeSaltLocked());
  Loops()[state->loop()] = state;
}

void UnregisterLoop(LoopState* state) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  auto it = Loops().find(state->loop());
  if (it != Loops().end() && it->second == state) Loops().erase(it);
}

LoopState::LoopState(uv_loop_t* loop)
    : loop_(loop), thread_(uv_thread_self()), salt_(1u << kIndexBits), index_(loop), pacer_(loop) {
  owners_.emplace_back();
}

LoopState::~LoopState() {
  // Marks must leave the queue before their memory does: the loop outlives
  // this state (a worker's loop is closed after its environment; see
  // docs/libuv-internals.md, "Birth marks").
  for (Birth& b : births_) UnlinkMark(b.mark.get());
}

bool LoopState::OnLoopThread() const {
  uv_thread_t self = uv_thread_self();
  return uv_thread_equal(&self, &thread_) != 0;
}

int LoopState::OwnerId(const char* name, size_t len, uint32_t* out) {
  if (out == nullptr || !ValidOwnerName(name, len)) return UV_EINVAL;
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
  owner_count_.store(index + 1, std::memory_order_release);
  *out = IdOfIndex(index);
  return 0;
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
  if (!ValidOwner(id)) return 0;
  std::unique_lock<std::mutex> lock(mu_, std::defer_lock);
  if (!OnLoopThread()) lock.lock();
  return owners_[IndexOf(id)].requests.load(std::memory_order_relaxed);
}

int LoopState::Tag(uv_handle_t* h, uint32_t id) {
  if (h == nullptr || h->loop != loop_ || !OnLoopThread()) return UV_EINVAL;
  if (h->type <= UV_UNKNOWN_HANDLE || h->type >= UV_HANDLE_TYPE_MAX)
    return UV_EINVAL;
  if (IsClosing(h) || (h->flags & kFlagInternal)) return UV_EINVAL;
  if (id == 0) {
    // Untagged by native code is a decision too: claimed for nobody, so that
    // a pending JS birth of the same type cannot take the handle.
    Claim(h, 0);
    return 0;
  }
  if (!ValidOwner(id)) return UV_EINVAL;
  Claim(h, id);
  return 0;
}

void LoopState::Claim(uv_handle_t* h, uint32_t id) {
  uint32_t from = TagOf(h);
  SetTag(h, id);
  index_.Retag(h, IndexOf(from), IndexOf(id));
}

Counts LoopState::CountsFor(uint32_t id) const {
  if (!index_.Valid()) return CountsByWalk(id);
  Counts c;
  if (const auto* handles = index_.HandlesOf(IndexOf(id)))
    for (const uv_handle_t* h : *handles) c.Add(h);
  return c;
}

Counts LoopState::CountsByWalk(uint32_t id) const {
  Counts c;
  ForEachHandle(loop_, [&](uv_handle_t* h) {
    if ((h->flags & kFlagTagged) && TagOf(h) == id) c.Add(h);
  });
  return c;
}

uint64_t LoopState::NoteBirth(uint32_t id, uv_handle_type type, bool deferred) {
  ResolveBirths(false);
  if (deferred) {
    // Node creates a process/fs_event handle in the call right after the
    // wrap's constructor; an older announcement of the same type that is
    // still unmatched belongs to a spawn or start that failed (a failed
    // uv_spawn unlinks its handle again). See docs/libuv-internals.md, "Node
    // facts" and "The handle queue".
    for (auto it = births_.begin(); it != births_.end();) {
      if (it->deferred && it->type == type) {
        Release(*it);
        it = births_.erase(it);
      } else {
        ++it;
      }
    }
  }
  std::unique_ptr<uv_idle_t> mark;
  if (spare_marks_.empty()) {
    mark = std::make_unique<uv_idle_t>();
  } else {
    mark = std::move(spare_marks_.back());
    spare_marks_.pop_back();
  }
  LinkMark(loop_, mark.get());
  births_.push_back(Birth{id, type, std::move(mark), deferred, next_birth_});
  return next_birth_++;
}

void LoopState::Release(Birth& birth) {
  UnlinkMark(birth.mark.get());
  // A few spares cover every burst seen in practice (one JS turn rarely has
  // more than a handful of births pending); the rest go back to the heap.
  if (spare_marks_.size() < 64) spare_marks_.push_back(std::move(birth.mark));
  else birth.mark.reset();
}

void LoopState::DropBirthsSince(uint64_t seq) {
  ResolveBirths(false);
  for (auto it = births_.begin(); it != births_.end();) {
    if (it->seq >= seq) {
      Release(*it);
      it = births_.erase(it);
    } else {
      ++it;
    }
  }
}

void LoopState::ResolveBirths(bool final) {
  if (births_.empty()) return;
  QueueNode* head = HandleQueue(loop_);
  for (auto it = births_.begin(); it != births_.end();) {
    uv_handle_t* match = nullptr;
    // From the birth's own mark to the tail: only handles appended since the
    // announcement, each live (it is in the queue now). Other births' marks
    // are internal and skipped like libuv's own handles.
    QueueNode* start = NodeOfHandle(reinterpret_cast<uv_handle_t*>(it->mark.get()));
    for (QueueNode* q = start->next; q != head; q = q->next) {
      uv_handle_t* h = HandleOfNode(q);
      if (h->type != it->type || (h->flags & (kFlagInternal | kFlagTagged)))
        continue;
      match = h;
      break;
    }
    if (match != nullptr) {
      // Claimed even if already closing (its close callback is owner code);
      // an unowned birth claims it with tag 0, so no later birth takes it.
      Claim(match, it->owner);
      if (record_matches_) matches_.emplace_back(it->seq, match);
      Release(*it);
      it = births_.erase(it);
    } else {
      ++it;
    }
  }
  if (final) {
    for (Birth& b : births_) Release(b);
    births_.clear();
  }
}

}  // namespace uvdrain
