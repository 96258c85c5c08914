// Names the shared object a callback address lies in (dladdr1, the link map),
// cached per address until a library is loaded or unloaded. See
// docs/libuv-internals.md, "Naming the shared object".
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "shared_objects.h"

#include <dlfcn.h>
#include <link.h>
#include <climits>
#include <cstdlib>

#include "callbacks.h"

namespace uvdrain {

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

void SharedObjectIndex::Refresh() {
  unsigned long long counters[2] = {0, 0};
  dl_iterate_phdr(CountObjects, counters);
  if (counters[0] != adds_ || counters[1] != subs_) {
    adds_ = counters[0];
    subs_ = counters[1];
    by_address_.clear();
  }
}

int SharedObjectIndex::Of(const uv_handle_t* h) {
  const void* fn = nullptr;
  ForEachCallback(h, [&fn](const void* callback) {
    fn = callback;
    return true;  // the first is the one called next
  });
  if (fn == nullptr) return -1;
  auto it = by_address_.find(fn);
  if (it != by_address_.end()) return it->second;
  int index = Lookup(fn);
  by_address_.emplace(fn, index);
  return index;
}

int SharedObjectIndex::Lookup(const void* fn) {
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
