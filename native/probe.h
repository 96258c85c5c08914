// The load-time layout probe: may uv-drain read and write libuv's handles.
#ifndef UV_DRAIN_PROBE_H
#define UV_DRAIN_PROBE_H

namespace uvdrain {

// Checks once per process, on a private loop, that the running libuv keeps
// handle flags, the handle queue and the tag word the way uv_layout.h
// assumes. When it does not, nothing is tagged (capabilities.tagging is
// false) and the package refuses to load (src/native.ts) instead of counting
// from a layout it does not know. Each step: docs/libuv-internals.md, "The
// load-time probe".
bool LayoutProbeOk();

}  // namespace uvdrain

#endif
