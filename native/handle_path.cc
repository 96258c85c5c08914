// handlePath() (handle_path.h): the handle found in the queue, then libuv's
// public getters.
#include "handle_path.h"

#include <cstring>

#include "uv_layout.h"

namespace uvdrain {

std::string HandlePath(uv_loop_t* loop, uintptr_t address) {
  uv_handle_t* found = nullptr;
  ForEachHandle(loop, [&](uv_handle_t* h) {
    if (reinterpret_cast<uintptr_t>(h) == address) found = h;
  });
  if (found == nullptr || uv_is_closing(found)) return "";
  char buf[4096];
  size_t size = sizeof(buf);
  int err = UV_EINVAL;
  switch (found->type) {
    case UV_FS_EVENT:
      err = uv_fs_event_getpath(reinterpret_cast<uv_fs_event_t*>(found), buf, &size);
      break;
    case UV_FS_POLL:
      err = uv_fs_poll_getpath(reinterpret_cast<uv_fs_poll_t*>(found), buf, &size);
      break;
    case UV_NAMED_PIPE:
      err = uv_pipe_getsockname(reinterpret_cast<uv_pipe_t*>(found), buf, &size);
      if (err == 0 && size == 0) {
        size = sizeof(buf);
        err = uv_pipe_getpeername(reinterpret_cast<uv_pipe_t*>(found), buf, &size);
      }
      break;
    default:
      break;
  }
  if (err != 0 || size == 0) return "";
  // A pipe name may be abstract (a leading NUL) or unterminated.
  return std::string(buf, strnlen(buf, size));
}

}  // namespace uvdrain
