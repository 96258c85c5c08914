// Per-loop state: the owner table, pending JS births, and the registry that
// lets the C API find a loop's state from a uv_loop_t*.
#ifndef UV_DRAIN_LOOP_STATE_H
#define UV_DRAIN_LOOP_STATE_H

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "owner_index.h"
#include "pacer.h"
#include "uv_drain.h"
#include "uv_layout.h"

namespace uvdrain {

// Owner names are 1 to 256 characters as JavaScript counts them (UTF-16
// code units), given to C as UTF-8: at most 768 bytes.
constexpr size_t kMaxOwnerChars = 256;
constexpr size_t kMaxOwnerBytes = 3 * kMaxOwnerChars;

// True when `name` is valid UTF-8 of 1 to kMaxOwnerChars UTF-16 code units.
bool ValidOwnerName(const char* name, size_t len);
// Owner ids: see owner_index.h (kIndexBits, kIndexMask).
constexpr uint32_t kMaxOwners = kIndexMask;

struct Counts {
  uint32_t total = 0, active = 0, ref = 0, closing = 0;
  void Add(const uv_handle_t* h) {
    total++;
    if (h->flags & kFlagActive) active++;
    if (h->flags & kFlagRef) ref++;
    if (IsClosing(h)) closing++;
  }
};

struct Owner {
  std::string name;
  std::atomic<int64_t> requests{0};
};

class LoopState {
 public:
  explicit LoopState(uv_loop_t* loop);
  // Set once by RegisterLoop, before any owner exists.
  void SetSalt(uint32_t salt) { salt_ = salt; }
  uint32_t Salt() const { return salt_; }
  ~LoopState();
  LoopState(const LoopState&) = delete;
  LoopState& operator=(const LoopState&) = delete;

  uv_loop_t* loop() const { return loop_; }
  bool OnLoopThread() const;

  // Owner table. Ids are stable for the loop's lifetime.
  int OwnerId(const char* name, size_t len, uint32_t* out);
  // ValidOwner and Requests are safe from any thread. Owners are only ever
  // added on the loop thread, so the loop thread reads the table without the
  // lock (the hot path of countsFor); other threads take it.
  bool ValidOwner(uint32_t id) const {
    return (id & ~kIndexMask) == salt_ && (id & kIndexMask) != 0 &&
           (id & kIndexMask) < owner_count_.load(std::memory_order_acquire);
  }
  uint32_t IndexOf(uint32_t id) const { return id & kIndexMask; }
  uint32_t IdOfIndex(uint32_t index) const { return salt_ | index; }
  size_t OwnerCount() const { return owner_count_.load(std::memory_order_acquire); }
  std::string OwnerName(uint32_t index) const;
  int RequestBegin(uint32_t id);
  int RequestEnd(uint32_t id);
  int64_t Requests(uint32_t id) const;

  // Handle tags. The handle must belong to this loop and not be closing.
  int Tag(uv_handle_t* h, uint32_t id);
  // Counts of owner `id` from the owner index, or by walking the loop while
  // the index is not valid. CountsByWalk always walks (the tests' oracle).
  Counts CountsFor(uint32_t id) const;
  Counts CountsByWalk(uint32_t id) const;
  OwnerIndex& Index() { return index_; }
  const OwnerIndex& Index() const { return index_; }
  // Pacing clocks of the owners being unloaded (loop thread only).
  Pacer& Pacing() { return pacer_; }

  // JS births: async_hooks announces a handle before libuv creates it; the
  // handle is the first unclaimed one of that type appended to the queue
  // after the announcement. The announcement's place in the queue is a birth
  // mark of uv-drain's own (uv_layout.h), never a pointer to some handle that
  // happened to be the tail: that handle may be closed and freed before the
  // birth is resolved. `deferred` births (process, fs_event) create their
  // handle in a later call of the same JS turn. See docs/libuv-internals.md,
  // "Birth marks" and "Node facts" (announcement before creation).
  // Owner 0 announces an unowned birth: it claims its handle with tag 0 (so
  // that an owned announcement whose spawn failed cannot take it, and so that
  // creation stacks can be matched). Returns the birth's sequence number.
  uint64_t NoteBirth(uint32_t id, uv_handle_type type, bool deferred);
  // Drops the births announced at or after `seq` that are still unmatched
  // (a withOwner scope that ends: its spawn threw before making the handle).
  void DropBirthsSince(uint64_t seq);
  uint64_t NextBirth() const { return next_birth_; }
  // While on, every matched birth is remembered as (seq, handle) until
  // TakeMatches() (creation stacks are kept in JS by birth seq).
  void SetRecordMatches(bool on) {
    record_matches_ = on;
    if (!on) matches_.clear();
  }
  std::vector<std::pair<uint64_t, uv_handle_t*>> TakeMatches() { return std::move(matches_); }
  // Matches pending births. With `final`, births still unmatched are dropped
  // (called from a microtask: every announced handle exists by then).
  void ResolveBirths(bool final);

 private:
  struct Birth {
    uint32_t owner;
    uv_handle_type type;
    std::unique_ptr<uv_idle_t> mark;  // linked into the queue while pending
    bool deferred;
    uint64_t seq;
  };
  // Unlinks a settled birth's mark and keeps it for the next birth.
  void Release(Birth& birth);
  // Sets h's tag and keeps the owner index in step.
  void Claim(uv_handle_t* h, uint32_t id);

  uv_loop_t* loop_;
  uv_thread_t thread_;
  uint32_t salt_;
  mutable std::mutex mu_;         // guards owners_ and by_name_
  std::deque<Owner> owners_;      // [0] is a placeholder for "no owner"
  std::atomic<uint32_t> owner_count_{1};
  std::unordered_map<std::string, uint32_t> by_name_;
  std::vector<Birth> births_;
  std::vector<std::unique_ptr<uv_idle_t>> spare_marks_;
  uint64_t next_birth_ = 0;
  bool record_matches_ = false;
  std::vector<std::pair<uint64_t, uv_handle_t*>> matches_;
  OwnerIndex index_;
  Pacer pacer_;
};

// Registry of the loops uv-drain is loaded on (one state per Node env).
void RegisterLoop(LoopState* state);
void UnregisterLoop(LoopState* state);
// Calls fn(state) with the registry locked, or returns UV_EINVAL.
template <typename Fn>
int WithLoop(uv_loop_t* loop, Fn&& fn);

std::mutex& RegistryMutex();
LoopState* FindLoopLocked(uv_loop_t* loop);

template <typename Fn>
int WithLoop(uv_loop_t* loop, Fn&& fn) {
  if (loop == nullptr) return UV_EINVAL;
  std::lock_guard<std::mutex> lock(RegistryMutex());
  LoopState* state = FindLoopLocked(loop);
  if (state == nullptr) return UV_EINVAL;
  return fn(state);
}

}  // namespace uvdrain

#endif
