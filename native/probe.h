#ifndef UV_DRAIN_PROBE_H
#define UV_DRAIN_PROBE_H

namespace uvdrain {

// Checks once per process, on a private loop, that the running libuv keeps
// handle flags and the tag word the way uv_layout.h assumes. When it does
// not, uv-drain cannot tag handles and says so instead of guessing.
bool LayoutProbeOk();

}  // namespace uvdrain

#endif
