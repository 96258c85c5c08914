#include "modules.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <link.h>
#include <climits>
#include <cstdlib>

#include "uv_layout.h"

namespace uvdrain {

bool ModuleAttributionSupported() {
  unsigned v = uv_version();
  unsigned major = (v >> 16) & 0xff, minor = (v >> 8) & 0xff;
  return major == 1 && minor >= 44 && minor <= 52;
}

// Function pointers are stored in private fields whose layout is fixed for
// libuv 1.44-1.52 (see uv/unix.h). fs_poll keeps its callback in an opaque
// struct, so only its close_cb can be attributed. uv_signal_init and
// uv_fs_event_init do not reset signal_cb and cb: until the handle is
// started they may hold whatever the memory held before (looked up, never
// called). Offsets and versions: docs/libuv-internals.md, "Callback fields".
const void* TypeCallback(const uv_handle_t* h) {
  switch (h->type) {
    case UV_TIMER: return reinterpret_cast<const void*>(reinterpret_cast<const uv_timer_t*>(h)->timer_cb);
    case UV_PREPARE: return reinterpret_cast<const void*>(reinterpret_cast<const uv_prepare_t*>(h)->prepare_cb);
    case UV_CHECK: return reinterpret_cast<const void*>(reinterpret_cast<const uv_check_t*>(h)->check_cb);
    case UV_IDLE: return reinterpret_cast<const void*>(reinterpret_cast<const uv_idle_t*>(h)->idle_cb);
    case UV_ASYNC: return reinterpret_cast<const void*>(reinterpret_cast<const uv_async_t*>(h)->async_cb);
    case UV_POLL: return reinterpret_cast<const void*>(reinterpret_cast<const uv_poll_t*>(h)->poll_cb);
    case UV_SIGNAL: return reinterpret_cast<const void*>(reinterpret_cast<const uv_signal_t*>(h)->signal_cb);
    case UV_PROCESS: return reinterpret_cast<const void*>(reinterpret_cast<const uv_process_t*>(h)->exit_cb);
    case UV_FS_EVENT: return reinterpret_cast<const void*>(reinterpret_cast<const uv_fs_event_t*>(h)->cb);
    case UV_UDP: {
      auto* u = reinterpret_cast<const uv_udp_t*>(h);
      if (u->recv_cb) return reinterpret_cast<const void*>(u->recv_cb);
      return reinterpret_cast<const void*>(u->alloc_cb);
    }
    case UV_TCP:
    case UV_NAMED_PIPE:
    case UV_TTY: {
      auto* s = reinterpret_cast<const uv_stream_t*>(h);
      if (s->read_cb) return reinterpret_cast<const void*>(s->read_cb);
      if (s->connection_cb) return reinterpret_cast<const void*>(s->connection_cb);
      return reinterpret_cast<const void*>(s->alloc_cb);
    }
    default: return nullptr;
  }
}

namespace {

int CountObjects(struct dl_phdr_info* info, size_t, void* data) {
  auto* out = static_cast<unsigned long long*>(data);
  out[0] = info->dlpi_adds;
  out[1] = info->dlpi_subs;
  return 1;  // the counters are the same in every entry: stop at the first
}

std::string ExecutablePath() {
  char buf[PATH_MAX];
  if (realpath("/proc/self/exe", buf) != nullptr) return buf;
  return "";
}

}  // namespace

void ModuleIndex::Refresh() {
  unsigned long long counters[2] = {0, 0};
  dl_iterate_phdr(CountObjects, counters);
  if (counters[0] != adds_ || counters[1] != subs_) {
    adds_ = counters[0];
    subs_ = counters[1];
    by_address_.clear();
  }
}

int ModuleIndex::Of(const uv_handle_t* h) {
  const void* fn = nullptr;
  if (IsClosing(h)) fn = reinterpret_cast<const void*>(h->close_cb);
  if (fn == nullptr) fn = TypeCallback(h);
  if (fn == nullptr) return -1;
  auto it = by_address_.find(fn);
  if (it != by_address_.end()) return it->second;
  int index = Lookup(fn);
  by_address_.emplace(fn, index);
  return index;
}

int ModuleIndex::Lookup(const void* fn) {
  Dl_info info;
  struct link_map* map = nullptr;
  if (dladdr1(fn, &info, reinterpret_cast<void**>(&map), RTLD_DL_LINKMAP) == 0)
    return -1;
  std::string name;
  if (map != nullptr && map->l_prev == nullptr) {
    // The main program heads the link map; its dli_fname is argv[0]-ish
    // (see docs/libuv-internals.md, "Naming the shared object").
    name = ExecutablePath();
  } else if (info.dli_fname != nullptr) {
    char buf[PATH_MAX];
    name = realpath(info.dli_fname, buf) != nullptr ? buf : info.dli_fname;
  }
  if (name.empty()) return -1;
  auto it = by_name_.find(name);
  if (it != by_name_.end()) return it->second;
  int index = static_cast<int>(names_.size());
  names_.push_back(name);
  by_name_.emplace(std::move(name), index);
  return index;
}

}  // namespace uvdrain
