// The C API table (capi.h): each entry finds its loop's state and checks its
// arguments and thread.
#include "capi.h"

#include <cstring>

#include "loop_state.h"
#include "probe.h"

namespace uvdrain {

namespace {

int ApiOwner(uv_loop_t* loop, const char* name, uv_drain_owner_t* out) {
  if (name == nullptr || out == nullptr) return UV_EINVAL;
  size_t len = strnlen(name, kMaxOwnerBytes + 1);
  return WithLoop(loop, [&](LoopState* s) {
    if (!s->OnLoopThread()) return static_cast<int>(UV_EINVAL);
    return s->OwnerId(name, len, out);
  });
}

int ApiTag(uv_handle_t* handle, uv_drain_owner_t owner) {
  if (handle == nullptr || owner == 0) return UV_EINVAL;
  if (!LayoutProbeOk()) return UV_ENOTSUP;
  return WithLoop(handle->loop, [&](LoopState* s) { return s->Tag(handle, owner); });
}

int ApiUntag(uv_handle_t* handle) {
  if (handle == nullptr) return UV_EINVAL;
  if (!LayoutProbeOk()) return UV_ENOTSUP;
  return WithLoop(handle->loop, [&](LoopState* s) { return s->Tag(handle, 0); });
}

int ApiOwnerOf(const uv_handle_t* handle, uv_drain_owner_t* out) {
  if (handle == nullptr || out == nullptr) return UV_EINVAL;
  return WithLoop(handle->loop, [&](LoopState* s) {
    if (!s->OnLoopThread()) return static_cast<int>(UV_EINVAL);
    *out = LayoutProbeOk() ? TagOf(handle) : 0;
    return 0;
  });
}

int ApiRequestBegin(uv_loop_t* loop, uv_drain_owner_t owner) {
  return WithLoop(loop, [&](LoopState* s) { return s->RequestBegin(owner); });
}

int ApiRequestEnd(uv_loop_t* loop, uv_drain_owner_t owner) {
  return WithLoop(loop, [&](LoopState* s) { return s->RequestEnd(owner); });
}

int ApiCounts(uv_loop_t* loop, uv_drain_owner_t owner, uv_drain_counts_t* out) {
  if (out == nullptr) return UV_EINVAL;
  return WithLoop(loop, [&](LoopState* s) {
    if (!s->OnLoopThread() || !s->ValidOwner(owner)) return static_cast<int>(UV_EINVAL);
    Counts c = s->CountsFor(owner);
    out->total = c.total;
    out->active = c.active;
    out->ref = c.ref;
    out->closing = c.closing;
    int64_t requests = s->Requests(owner);
    out->requests = static_cast<uint32_t>(requests > 0 ? requests : 0);
    return 0;
  });
}

const uv_drain_api_t kTable = {
    UV_DRAIN_API_VERSION, sizeof(uv_drain_api_t), ApiOwner, ApiTag, ApiUntag,
    ApiOwnerOf, ApiRequestBegin, ApiRequestEnd, ApiCounts,
};

}  // namespace

const uv_drain_api_t* CApiTable() { return &kTable; }

}  // namespace uvdrain
