// Pacing clocks (pacer.h).
#include "pacer.h"

#include <cstring>

namespace uvdrain {

uint64_t LoopCount(uv_loop_t* loop) {
  uv_metrics_t metrics;
  std::memset(&metrics, 0, sizeof(metrics));
  uv_metrics_info(loop, &metrics);
  return metrics.loop_count;
}

uint64_t Pacer::Iteration() const { return LoopCount(loop_); }

void Pacer::SetShare(uint32_t owner, uint64_t share_ns) {
  if (share_ns == kUnpaced) {
    clocks_.erase(owner);
    return;
  }
  auto found = clocks_.find(owner);
  if (found != clocks_.end()) {
    found->second.share_ns = share_ns;
    return;
  }
  // No clock running yet: the first Left starts it.
  clocks_.emplace(owner, Clock{share_ns, UINT64_MAX, 0});
}

uint64_t Pacer::Left(uint32_t owner) {
  auto found = clocks_.find(owner);
  if (found == clocks_.end()) return kUnpaced;
  Clock& clock = found->second;
  uint64_t now = uv_hrtime();
  uint64_t iteration = Iteration();
  if (clock.iteration != iteration) {
    clock.iteration = iteration;
    clock.started_ns = now;
  }
  uint64_t spent = now - clock.started_ns;
  return spent >= clock.share_ns ? 0 : clock.share_ns - spent;
}

}  // namespace uvdrain
