// Pacing clocks: how much of the current loop iteration's budget each owner
// being unloaded has left (issue 15, docs/design.md "Paced wrap-up").
//
// An iteration, for pacing, runs from one poll phase to the next: libuv
// counts its loop_count (uv_metrics_info) right before every poll, so two
// slices with different loop counts always have a poll between them, where
// the loop serves I/O. An owner's clock starts at its first question of an
// iteration (Left) and its share of the budget is spent when that much time
// has passed since. Loop thread only.
#ifndef UV_DRAIN_PACER_H
#define UV_DRAIN_PACER_H

#include <uv.h>

#include <cstdint>
#include <unordered_map>

namespace uvdrain {

// libuv's loop_count of `loop` (uv_metrics_info): the iteration as pacing
// counts them.
uint64_t LoopCount(uv_loop_t* loop);

class Pacer {
 public:
  // What Left answers for an owner that is not paced: all the time there is.
  static constexpr uint64_t kUnpaced = UINT64_MAX;

  explicit Pacer(uv_loop_t* loop) : loop_(loop) {}

  // The owner's share of each iteration, in ns; kUnpaced stops pacing it.
  void SetShare(uint32_t owner, uint64_t share_ns);
  // Ns of the owner's share left in this iteration (0 once spent), starting
  // its clock when this is its first question of the iteration.
  uint64_t Left(uint32_t owner);
  // The iteration, as pacing counts them (libuv's loop_count).
  uint64_t Iteration() const;

 private:
  struct Clock {
    uint64_t share_ns;
    uint64_t iteration;
    uint64_t started_ns;
  };
  uv_loop_t* loop_;
  std::unordered_map<uint32_t, Clock> clocks_;
};

}  // namespace uvdrain

#endif
