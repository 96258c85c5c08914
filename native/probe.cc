// The load-time layout probe (probe.h): its steps, on a private loop.
#include "probe.h"

#include <cstdlib>
#include <cstring>
#include <mutex>

#include "uv_layout.h"

namespace uvdrain {

namespace {

bool InQueue(uv_loop_t* loop, uv_handle_t* h) {
  QueueNode* head = HandleQueue(loop);
  for (QueueNode* q = head->next; q != head; q = q->next)
    if (HandleOfNode(q) == h) return true;
  return false;
}

bool Agrees(uv_handle_t* h) {
  return ((h->flags & kFlagActive) != 0) == (uv_is_active(h) != 0) &&
         ((h->flags & kFlagRef) != 0) == (uv_has_ref(h) != 0) &&
         IsClosing(h) == (uv_is_closing(h) != 0);
}

void NoopTimer(uv_timer_t*) {}

void CountVisit(uv_handle_t*, void* arg) { ++*static_cast<int*>(arg); }

bool RunProbe() {
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) return false;
  bool ok = true;
  uv_timer_t timer;
  uv_timer_init(&loop, &timer);
  uv_handle_t* h = reinterpret_cast<uv_handle_t*>(&timer);
  ok = ok && InQueue(&loop, h) && Agrees(h) && !(h->flags & kFlagInternal);
  SetTag(h, 0x12345u);
  uv_timer_start(&timer, NoopTimer, 1000, 0);
  ok = ok && Agrees(h) && (h->flags & kFlagActive);
  uv_unref(h);
  ok = ok && Agrees(h) && !(h->flags & kFlagRef);
  uv_ref(h);
  uv_timer_stop(&timer);
  ok = ok && Agrees(h) && TagOf(h) == 0x12345u;
  uv_close(h, nullptr);
  ok = ok && Agrees(h) && IsClosing(h) && TagOf(h) == 0x12345u;
  uv_run(&loop, UV_RUN_DEFAULT);
  ok = ok && !InQueue(&loop, h);
  // A new handle in the same memory must start untagged.
  uv_timer_init(&loop, &timer);
  ok = ok && TagOf(h) == 0 && InQueue(&loop, h);
  // A birth mark (uv_layout.h) is invisible to uv_walk, keeps its place
  // while a handle after it comes and goes, and does not keep the loop
  // alive (see docs/libuv-internals.md, "Birth marks").
  uv_idle_t mark;
  LinkMark(&loop, &mark);
  uv_timer_t later;
  uv_timer_init(&loop, &later);
  QueueNode* mark_node = NodeOfHandle(reinterpret_cast<uv_handle_t*>(&mark));
  ok = ok && mark_node->next == NodeOfHandle(reinterpret_cast<uv_handle_t*>(&later));
  int visits = 0;
  uv_walk(&loop, CountVisit, &visits);
  ok = ok && visits == 2;
  uv_close(reinterpret_cast<uv_handle_t*>(&later), nullptr);
  uv_close(h, nullptr);
  uv_run(&loop, UV_RUN_DEFAULT);
  ok = ok && mark_node->next == HandleQueue(&loop) && HandleQueue(&loop)->prev == mark_node;
  UnlinkMark(&mark);
  ok = uv_loop_close(&loop) == 0 && ok;
  return ok;
}

}  // namespace

bool LayoutProbeOk() {
  static std::once_flag once;
  static bool ok = false;
  // UV_DRAIN_TEST_PROBE=fail stands in for a libuv whose layout differs, so
  // that the refusal (src/native.ts) can be tested on a libuv that passes.
  std::call_once(once, [] {
    const char* test = std::getenv("UV_DRAIN_TEST_PROBE");
    ok = !(test != nullptr && std::strcmp(test, "fail") == 0) && RunProbe();
  });
  return ok;
}

}  // namespace uvdrain
