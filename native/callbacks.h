// The callbacks libuv keeps in a handle, read from its fields: close_cb and
// the private callback fields of each handle type, in the order that says
// which one the handle calls next, and the libuv versions where the type's
// fields can be read. Used to name the shared object a handle calls back into
// (shared_objects.h) and to tell whether a C module is still called into
// (c_module.cc). Offsets and versions: docs/libuv-internals.md, "Callback
// fields".
#ifndef UV_DRAIN_CALLBACKS_H
#define UV_DRAIN_CALLBACKS_H

#include <uv.h>

#include "owner_index.h"
#include "uv_layout.h"

namespace uvdrain {

// True when the running libuv's private callback fields are at the offsets
// this build knows (libuv 1.44 to 1.52, judged by uv_version()).
inline bool CallbackFieldsKnown() {
  static const bool known = [] {
    unsigned v = uv_version();
    unsigned major = (v >> 16) & 0xff, minor = (v >> 8) & 0xff;
    return major == 1 && minor >= 44 && minor <= 52;
  }();
  return known;
}

// Calls fn(const void* callback) for each callback libuv may call for `h`
// that is set, the one it calls next first, until fn returns true:
//  1. close_cb, while the handle is closing. It is a private field of
//     UV_HANDLE_FIELDS, at the same offset in every handle type and every
//     libuv 1.x checked, so it is read whatever the version. It is not reset
//     by uv__handle_init, so it only means something once uv_close() was
//     called (docs/libuv-internals.md, "Closing handles").
//  2. Only when CallbackFieldsKnown(): the callbacks of its type. A stream's
//     read_cb, connection_cb, alloc_cb; a UDP handle's recv_cb, alloc_cb;
//     else the type's one callback (timer_cb, exit_cb...). fs_poll keeps its
//     callback in an opaque struct: none. uv_signal_init and
//     uv_fs_event_init do not reset signal_cb and cb: until the handle is
//     started they may hold whatever the memory held before (compared,
//     never called).
template <class Fn>
inline void ForEachCallback(const uv_handle_t* h, Fn&& fn) {
  auto visit = [&fn](auto callback) {
    return callback != nullptr && fn(reinterpret_cast<const void*>(callback));
  };
  if (IsClosing(h) && visit(OwnerIndex::CloseCallbackOf(h))) return;
  if (!CallbackFieldsKnown()) return;
  switch (h->type) {
    case UV_TIMER: visit(reinterpret_cast<const uv_timer_t*>(h)->timer_cb); return;
    case UV_PREPARE: visit(reinterpret_cast<const uv_prepare_t*>(h)->prepare_cb); return;
    case UV_CHECK: visit(reinterpret_cast<const uv_check_t*>(h)->check_cb); return;
    case UV_IDLE: visit(reinterpret_cast<const uv_idle_t*>(h)->idle_cb); return;
    case UV_ASYNC: visit(reinterpret_cast<const uv_async_t*>(h)->async_cb); return;
    case UV_POLL: visit(reinterpret_cast<const uv_poll_t*>(h)->poll_cb); return;
    case UV_SIGNAL: visit(reinterpret_cast<const uv_signal_t*>(h)->signal_cb); return;
    case UV_PROCESS: visit(reinterpret_cast<const uv_process_t*>(h)->exit_cb); return;
    case UV_FS_EVENT: visit(reinterpret_cast<const uv_fs_event_t*>(h)->cb); return;
    case UV_UDP: {
      auto* u = reinterpret_cast<const uv_udp_t*>(h);
      if (!visit(u->recv_cb)) visit(u->alloc_cb);
      return;
    }
    case UV_TCP:
    case UV_NAMED_PIPE:
    case UV_TTY: {
      auto* s = reinterpret_cast<const uv_stream_t*>(h);
      if (!visit(s->read_cb) && !visit(s->connection_cb)) visit(s->alloc_cb);
      return;
    }
    default: return;
  }
}

}  // namespace uvdrain

#endif
