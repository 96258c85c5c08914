#ifndef UV_DRAIN_PROBE_H
#define UV_DRAIN_PROBE_H

namespace uvdrain {

// Checks once per process, on a private loop, that the running libuv keeps
// handle flags, the handle queue and the tag word the way uv_layout.h
// assumes. When it does not, uv-drain cannot tag handles and says so
// (capabilities.tagging) instead of guessing. Each step and what turns off:
// docs/libuv-internals.md, "The load-time probe".
bool LayoutProbeOk();

}  // namespace uvdrain

#endif
