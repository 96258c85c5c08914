// handlePath(): the path libuv keeps for a live handle, found by address.
#ifndef UV_DRAIN_HANDLE_PATH_H
#define UV_DRAIN_HANDLE_PATH_H

#include <uv.h>

#include <cstdint>
#include <string>

namespace uvdrain {

// The path libuv keeps for the live handle of `loop` at `address` — what an
// fs.watch or fs.watchFile watches, a pipe's name (or its peer's) — or ""
// when there is none. The handle is looked up in the loop's queue first: an
// address that is no longer a handle is never read (see
// docs/libuv-internals.md, "Public calls made on found handles").
std::string HandlePath(uv_loop_t* loop, uintptr_t address);

}  // namespace uvdrain

#endif
