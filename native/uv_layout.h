// What uv-drain reads inside libuv handles and the loop, and what it writes:
// the tag (one flag bit and one spare word of a handle) and the queue links
// next to a birth mark. Every field, the versions checked and how the probe
// guards each one: docs/libuv-internals.md.
//
// libuv keeps these fields private, but they are part of its 1.x ABI: the
// struct layout is fixed by uv.h (UV_HANDLE_FIELDS) and uv/unix.h
// (UV_HANDLE_PRIVATE_FIELDS), and the offsets used here are identical from
// 1.39 to 1.52.1 on x86-64 Linux (arm64 has the same data model). probe.cc
// checks at load time that the running libuv behaves the way this file
// assumes; nothing is written if not. Reads are not gated (see
// docs/libuv-internals.md, "What the probe does not guard").
#ifndef UV_DRAIN_LAYOUT_H
#define UV_DRAIN_LAYOUT_H

#include <cstddef>
#include <cstdint>
#include <uv.h>

namespace uvdrain {

// Handle flag bits, from libuv src/uv-common.h (these values since 1.22,
// through 1.52.1; see docs/libuv-internals.md, "Handle flags").
constexpr unsigned kFlagClosing = 0x01;
constexpr unsigned kFlagClosed = 0x02;
constexpr unsigned kFlagActive = 0x04;
constexpr unsigned kFlagRef = 0x08;
constexpr unsigned kFlagInternal = 0x10;

// uv-drain's own bit. libuv's highest flag is 0x10000000 (UV_HANDLE_REAP);
// the only place libuv assigns `flags` as a whole is uv__handle_init, which
// sets it to UV_HANDLE_REF. So the bit survives everything a live handle goes
// through and is cleared when the memory is reused for a new handle: that is
// how a new handle born at the address of a closed tagged one starts
// untagged, with no table to keep in sync and nothing to free (see
// docs/libuv-internals.md, "The tag").
constexpr unsigned kFlagTagged = 0x80000000u;

// The owner id lives in the last word of the handle's `u.reserved[4]` union.
// On unix libuv never touches u.reserved[1..3] (libuv 1.45 to 1.52 use the
// first int, u.fd, as the async handle's busy counter). See
// docs/libuv-internals.md, "The tag".
inline uint32_t TagOf(const uv_handle_t* h) {
  if (!(h->flags & kFlagTagged)) return 0;
  return static_cast<uint32_t>(reinterpret_cast<uintptr_t>(h->u.reserved[3]));
}

inline void SetTag(uv_handle_t* h, uint32_t owner) {
  h->u.reserved[3] = reinterpret_cast<void*>(static_cast<uintptr_t>(owner));
  h->flags |= kFlagTagged;
}


inline bool IsClosing(const uv_handle_t* h) {
  return (h->flags & (kFlagClosing | kFlagClosed)) != 0;
}

// loop->handle_queue is a circular doubly linked list of {next, prev}
// (`void* [2]` up to libuv 1.45, `struct uv__queue` from 1.46: same layout).
// See docs/libuv-internals.md, "The handle queue".
struct QueueNode {
  QueueNode* next;
  QueueNode* prev;
};

inline QueueNode* HandleQueue(uv_loop_t* loop) {
  return reinterpret_cast<QueueNode*>(&loop->handle_queue);
}

inline uv_handle_t* HandleOfNode(QueueNode* q) {
  return reinterpret_cast<uv_handle_t*>(reinterpret_cast<char*>(q) -
                                        offsetof(uv_handle_t, handle_queue));
}

inline QueueNode* NodeOfHandle(uv_handle_t* h) {
  return reinterpret_cast<QueueNode*>(&h->handle_queue);
}

// A birth mark: a position in loop->handle_queue that stays valid for as long
// as uv-drain needs it (LoopState's birth matching). It is a zeroed idle
// handle that libuv never learns of: flagged internal, so uv_walk, libuv's
// loop-close check and uv-drain's own walks skip it; typed UV_IDLE, so the
// other readers of every queued handle (uv__signal_loop_cleanup and
// uv__signal_loop_fork, which look for UV_SIGNAL) ignore it, and
// uv_print_all_handles merely lists it; never active, referenced or closing,
// so no counter of the loop changes. uv-drain links it in and out itself (the
// neighbours of a queued node are queued, hence live, whenever JavaScript or
// the C API runs on the loop thread). See docs/libuv-internals.md, "Birth
// marks".
inline void LinkMark(uv_loop_t* loop, uv_idle_t* mark) {
  *mark = uv_idle_t{};
  auto* h = reinterpret_cast<uv_handle_t*>(mark);
  h->loop = loop;
  h->type = UV_IDLE;
  h->flags = kFlagInternal;
  QueueNode* head = HandleQueue(loop);
  QueueNode* node = NodeOfHandle(h);
  node->next = head;
  node->prev = head->prev;
  head->prev->next = node;
  head->prev = node;
}

inline void UnlinkMark(uv_idle_t* mark) {
  QueueNode* node = NodeOfHandle(reinterpret_cast<uv_handle_t*>(mark));
  node->prev->next = node->next;
  node->next->prev = node->prev;
  node->next = node->prev = nullptr;
}

// Visits every handle uv_walk would visit (internal ones skipped), in the
// same order, without uv_walk's rewrite of the whole queue. `fn` must not
// create or close handles. See docs/libuv-internals.md, "The handle queue".
template <typename Fn>
inline void ForEachHandle(uv_loop_t* loop, Fn&& fn) {
  QueueNode* head = HandleQueue(loop);
  for (QueueNode* q = head->next; q != head; q = q->next) {
    uv_handle_t* h = HandleOfNode(q);
    if (h->flags & kFlagInternal) continue;
    fn(h);
  }
}

}  // namespace uvdrain

#endif
