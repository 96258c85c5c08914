// The whole-loop traversals: stats, counts by owner, snapshot records.
#include "walk.h"

namespace uvdrain {

LoopStats StatsOf(uv_loop_t* loop) {
  LoopStats s;
  ForEachHandle(loop, [&](uv_handle_t* h) { s.handles.Add(h); });
  // A bare counter: libuv cannot list requests (docs/libuv-internals.md,
  // "uv_loop_t").
  s.active_reqs = loop->active_reqs.count;
  s.alive = uv_loop_alive(loop) != 0;
  return s;
}

void CountsByOwner(const LoopState& state, std::vector<Counts>* counts) {
  const uint32_t salt = state.IdOfIndex(0);
  ForEachHandle(state.loop(), [&](uv_handle_t* h) {
    uint32_t tag = TagOf(h);
    uint32_t index = tag & kIndexMask;
    // A tag of another uv-drain copy in this process counts as no owner.
    if ((tag & ~kIndexMask) != salt || index >= counts->size()) index = 0;
    (*counts)[index].Add(h);
  });
}

void Snapshot(LoopState* state, SharedObjectIndex* objects, bool with_objects,
              std::vector<double>* out) {
  if (with_objects) objects->Refresh();
  const uint32_t owners = static_cast<uint32_t>(state->OwnerCount());
  const uint32_t salt = state->IdOfIndex(0);
  ForEachHandle(state->loop(), [&](uv_handle_t* h) {
    int bits = ((h->flags & kFlagActive) ? kBitActive : 0) |
               ((h->flags & kFlagRef) ? kBitRef : 0) |
               (IsClosing(h) ? kBitClosing : 0);
    uv_os_fd_t fd;
    int fd_value = uv_fileno(h, &fd) == 0 ? fd : -1;
    uint32_t tag = TagOf(h);
    uint32_t index = tag & kIndexMask;
    if ((tag & ~kIndexMask) != salt || index >= owners) index = 0;
    size_t at = out->size();
    out->resize(at + kRecordFields);
    double* record = out->data() + at;
    record[kRecordAddrHi] = AddrHi(h);
    record[kRecordAddrLo] = AddrLo(h);
    record[kRecordType] = static_cast<double>(h->type);
    record[kRecordBits] = bits;
    record[kRecordFd] = fd_value;
    record[kRecordOwner] = index;
    record[kRecordSharedObject] = with_objects ? objects->Of(h) : -1;
  });
}

size_t BareTraversal(uv_loop_t* loop) {
  size_t n = 0;
  QueueNode* head = HandleQueue(loop);
  for (QueueNode* q = head->next; q != head; q = q->next) n++;
  return n;
}

}  // namespace uvdrain
