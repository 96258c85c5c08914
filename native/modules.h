// Which shared object a handle will call back into.
#ifndef UV_DRAIN_MODULES_H
#define UV_DRAIN_MODULES_H

#include <string>
#include <unordered_map>
#include <vector>

#include <uv.h>

namespace uvdrain {

// True when the running libuv's private callback fields are at the offsets
// this build knows (libuv 1.44 to 1.52, judged by uv_version(): see
// docs/libuv-internals.md, "Callback fields").
bool ModuleAttributionSupported();

// The callback libuv will call for `h` when the handle fires (timer_cb,
// connection_cb or read_cb, ...), or nullptr when it has none or it cannot
// be read (fs_poll). Not close_cb: see ModuleIndex::Of. Only meaningful when
// ModuleAttributionSupported().
const void* TypeCallback(const uv_handle_t* h);

class ModuleIndex {
 public:
  // Call once per traversal: drops the cache when a library was loaded or
  // unloaded since the last call (addresses may now belong to another one).
  void Refresh();
  // Index into Names() of the object holding the callback libuv will call
  // next for `h` (its close_cb while closing, else its type's callback), or
  // -1 when there is none or it cannot be known.
  int Of(const uv_handle_t* h);
  const std::vector<std::string>& Names() const { return names_; }

 private:
  int Lookup(const void* fn);
  unsigned long long adds_ = 0, subs_ = 0;
  std::unordered_map<const void*, int> by_address_;
  std::unordered_map<std::string, int> by_name_;
  std::vector<std::string> names_;
};

}  // namespace uvdrain

#endif
