// The C API native code calls (native/include/uv_drain.h): tag and untag
// handles, count requests, read an owner's counts.
#ifndef UV_DRAIN_CAPI_H
#define UV_DRAIN_CAPI_H

#include "uv_drain.h"

namespace uvdrain {

// The process-wide C API table (stateless: every entry finds the loop's
// state through the registry).
const uv_drain_api_t* CApiTable();

}  // namespace uvdrain

#endif
