/*
 * uv_drain_module.h - the ABI of a native C module that uv-drain's
 * UnloadCoordinator loads with dlopen and removes with dlclose.
 *
 * A module named `NAME` (the coordinator is told the name and the path of
 * the shared object) exports four symbols:
 *
 *   uint32_t NAME_api(void);
 *       Returns UV_DRAIN_MODULE_ABI. A module built for another ABI version
 *       is refused before anything else is called (only NAME_api is
 *       looked up before this check; then the other three must exist).
 *
 *   int NAME_init(uv_drain_module_ctx_t* ctx);
 *       Called once after dlopen, on the loop's thread. Make handles, tag
 *       them with ctx->api->tag(handle, ctx->owner), start work. Return 0,
 *       or a negative libuv error: load() fails with that error and the
 *       module is closed again. Before returning an error, uv_close what
 *       init already made (and let counted requests run out): the close
 *       callbacks are module code, so the module stays mapped until the
 *       owner has no handle and no request left, exactly as after cleanup.
 *
 *   int NAME_cleanup(uv_drain_module_ctx_t* ctx);
 *       The cleanup event: start wrapping up (stop accepting work, flush,
 *       uv_close your handles) and return at once. Nothing needs to be
 *       finished when it returns. A negative return is recorded in the
 *       unload report; the drain goes on.
 *
 *   int NAME_deinit(uv_drain_module_ctx_t* ctx);
 *       Called after cleanup, and again whenever the owner's accounting
 *       changes (a handle closed, a request ended). Return 0 when nothing of
 *       the module is left on the loop, UV_EAGAIN or UV_EBUSY while work is
 *       still in flight. Any other negative return fails the unload and the
 *       module stays loaded. Never block. May be called again after it
 *       returned 0: return 0 again.
 *
 * The coordinator removes the module (dlclose) only when deinit returned 0
 * AND the owner has no live handle (closing ones included) and no request
 * counted through ctx->api AND no live handle of the loop, whoever tagged it,
 * will call into the module's code (close_cb of a closing handle, the
 * callbacks of its type) or lives in the module's memory (a static uv_*_t).
 * Count every uv_fs_t/uv_work_t/uv_write_t you submit with
 * ctx->api->request_begin / request_end: libuv cannot list requests. Call
 * request_end last, in the request's callback on the loop's thread (for a
 * uv_work_t: its after_work_cb, never the work function on a pool thread):
 * once the count is zero the module may be removed as soon as that callback
 * returns.
 *
 * ctx is owned by uv-drain and stays valid (same address) from init until
 * the module is removed; the module may keep the pointer. ctx->data is NULL
 * at init.
 *
 * The context grows: fields are only ever appended, and ctx->size says how
 * far the loaded uv-drain's goes. Check a field with UV_DRAIN_MODULE_CTX_HAS
 * (ctx, field) before use; never compare ctx->size with sizeof(*ctx), or the
 * module refuses an older uv-drain that has every field it needs.
 *
 * Paced wrap-up (check UV_DRAIN_MODULE_CTX_HAS(ctx, continue_later) and do
 * everything at once when it is missing, as a version 1 module does):
 *
 *   uint64_t ctx->budget_left(ctx)
 *       Nanoseconds of the module's share of this loop iteration's budget
 *       still left: 0 once it is spent, UV_DRAIN_UNPACED when the module is
 *       not being paced (no unload under way, or a budget of Infinity). The
 *       first question of an iteration starts the module's clock for it.
 *       Ask it between items of a long wrap-up (closing many handles,
 *       flushing queued records) and stop once it answers 0.
 *
 *   int ctx->continue_later(ctx, fn)
 *       Asks uv-drain to call fn(ctx) in a later loop iteration (after the
 *       loop has polled for I/O at least once), on the loop's thread. Returns
 *       0, or UV_EINVAL (fn NULL, or the module is removed), or UV_EPERM
 *       (called off the loop's thread). Each call is one continuation;
 *       continuations run in the order asked. While one is pending the
 *       module holds two handles of uv-drain's (a uv_idle_t that keeps the
 *       loop from blocking and a uv_check_t that runs the continuations),
 *       tagged with ctx->owner: the module is not drained, and cannot be
 *       removed, until every continuation has run and those handles are
 *       closed (uv-drain closes them itself once none is pending). Nothing
 *       is left on the loop when no continuation is pending. If the Node
 *       environment ends first (a worker terminated), pending continuations
 *       are dropped, never called.
 *
 * Every call is made on the loop's thread, never from inside a call of the
 * C API (uv-drain looks at the counts between loop phases, not from
 * request_end). An object already loaded in the process (by an earlier load
 * or by anyone else) is refused: dlclose would not unmap it, and both loads
 * would share its statics. The module must not be loaded with RTLD_NODELETE
 * semantics (no -z nodelete), or dlclose cannot unmap it.
 */
#ifndef UV_DRAIN_MODULE_H
#define UV_DRAIN_MODULE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "uv_drain.h"

#ifdef __cplusplus
extern "C" {
#endif

#define UV_DRAIN_MODULE_ABI 1

/* What ctx->budget_left answers for a module that is not being paced. */
#define UV_DRAIN_UNPACED UINT64_MAX

typedef struct uv_drain_module_ctx_s uv_drain_module_ctx_t;

/* A continuation (ctx->continue_later). */
typedef void (*uv_drain_module_later_fn)(uv_drain_module_ctx_t* ctx);

struct uv_drain_module_ctx_s {
  /* ---- version 1: every uv-drain that loads modules fills these ---- */
  uint32_t abi;               /* UV_DRAIN_MODULE_ABI */
  uint32_t size;              /* sizeof(uv_drain_module_ctx_t) of the loaded uv-drain */
  uv_loop_t* loop;            /* the loop the module lives on */
  const uv_drain_api_t* api;  /* uv-drain's C API table */
  uv_drain_owner_t owner;     /* the module's owner id on `loop` */
  const char* name;           /* the module's name (its owner name) */
  void* data;                 /* the module's own; uv-drain never reads it */
  /* ---- paced wrap-up: present when UV_DRAIN_MODULE_CTX_HAS says so ---- */
  uint64_t (*budget_left)(uv_drain_module_ctx_t* ctx);
  int (*continue_later)(uv_drain_module_ctx_t* ctx, uv_drain_module_later_fn fn);
  /* Later fields are only ever appended, and `size` grows with them. */
};

/* True when the loaded uv-drain's context has `field` (the context grows
 * through `size`; a module built with this header may be loaded by an older
 * uv-drain whose context ends before it). */
#define UV_DRAIN_MODULE_CTX_HAS(ctx, field) \
  ((ctx)->size >= offsetof(uv_drain_module_ctx_t, field) + sizeof((ctx)->field))

typedef uint32_t (*uv_drain_module_api_fn)(void);
typedef int (*uv_drain_module_fn)(uv_drain_module_ctx_t* ctx);

#ifdef __cplusplus
}
#endif

#endif /* UV_DRAIN_MODULE_H */
