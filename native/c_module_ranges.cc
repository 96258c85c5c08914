// Where a loaded C module lies in memory (its PT_LOAD segments) and which
// live handles of a loop lie in it or will call into it (c_module_ranges.h).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "c_module_ranges.h"

#include <dlfcn.h>
#include <link.h>

#include <cstring>

#include "callbacks.h"
#include "js_arrays.h"
#include "uv_layout.h"

namespace uvdrain {

namespace {

struct FindSegments {
  uintptr_t l_addr;
  const char* l_name;
  std::vector<Range>* out;
  bool found;
};

int CollectSegments(struct dl_phdr_info* info, size_t, void* data) {
  auto* f = static_cast<FindSegments*>(data);
  // dl_iterate_phdr reports each link map entry with dlpi_addr = l_addr and
  // dlpi_name = l_name (glibc elf/dl-iteratephdr.c): both must match, since
  // two objects can share a load bias (0 for the main program and vdso).
  // See docs/libuv-internals.md, "C modules: segments and dlclose".
  if (info->dlpi_addr != f->l_addr) return 0;
  const char* name = info->dlpi_name != nullptr ? info->dlpi_name : "";
  if (strcmp(name, f->l_name) != 0) return 0;
  for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
    uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    f->out->push_back({start, start + ph.p_memsz});
  }
  f->found = true;
  return 1;
}

bool Inside(const std::vector<Range>& ranges, const void* p) {
  if (p == nullptr) return false;
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  for (const Range& r : ranges)
    if (a >= r.start && a < r.end) return true;
  return false;
}

// True when libuv may still call into (or read memory of) the module because
// of `h`: the handle itself living in the module's data/bss, or any callback
// it keeps (ForEachCallback: close_cb while closing, whatever the version;
// with the callback fields known, every callback of its type, also while
// closing: cheap, and only ever delays the unload until the close callback
// has run).
bool PointsInside(const std::vector<Range>& ranges, const uv_handle_t* h) {
  if (Inside(ranges, h)) return true;
  bool inside = false;
  ForEachCallback(h, [&](const void* callback) {
    inside = Inside(ranges, callback);
    return inside;  // found: stop
  });
  return inside;
}

}  // namespace

bool SegmentsOf(void* dl, std::vector<Range>* out) {
  struct link_map* map = nullptr;
  if (dlinfo(dl, RTLD_DI_LINKMAP, &map) != 0 || map == nullptr) return false;
  FindSegments f{static_cast<uintptr_t>(map->l_addr), map->l_name != nullptr ? map->l_name : "", out,
                 false};
  dl_iterate_phdr(CollectSegments, &f);
  return f.found && !out->empty();
}

std::vector<double> HandlesInside(uv_loop_t* loop, const std::vector<Range>& ranges) {
  std::vector<double> rows;
  ForEachHandle(loop, [&](uv_handle_t* h) {
    if (!PointsInside(ranges, h)) return;
    size_t at = rows.size();
    rows.resize(at + kAddressFields);
    rows[at + kAddressHi] = AddrHi(h);
    rows[at + kAddressLo] = AddrLo(h);
  });
  return rows;
}

}  // namespace uvdrain
