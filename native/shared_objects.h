// Which shared object a handle will call back into: the path of the object
// (the node binary, an addon, a C module...) that holds the callback libuv
// calls next for it. snapshot() gives it as HandleInfo.module.
#ifndef UV_DRAIN_SHARED_OBJECTS_H
#define UV_DRAIN_SHARED_OBJECTS_H

#include <string>
#include <unordered_map>
#include <vector>

#include <uv.h>

namespace uvdrain {

class SharedObjectIndex {
 public:
  // Call once per traversal: drops the cache when a library was loaded or
  // unloaded since the last call (addresses may now belong to another one).
  void Refresh();
  // Index into Names() of the object holding the callback libuv will call
  // next for `h` (its close_cb while closing, else its type's callback: the
  // first of ForEachCallback, callbacks.h), or -1 when there is none or it
  // cannot be known. Only meaningful when CallbackFieldsKnown().
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
