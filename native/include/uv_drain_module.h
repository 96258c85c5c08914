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
 * Every call is made on the loop's thread, never from inside a call of the
 * C API (uv-drain looks at the counts between loop phases, not from
 * request_end). An object already loaded in the process (by an earlier load
 * or by anyone else) is refused: dlclose would not unmap it, and both loads
 * would share its statics. The module must not be loaded with RTLD_NODELETE
 * semantics (no -z nodelete), or dlclose cannot unmap it.
 */
#ifndef UV_DRAIN_MODULE_H
#define UV_DRAIN_MODULE_H

#include <stdint.h>
#include <uv.h>

#include "uv_drain.h"

#ifdef __cplusplus
extern "C" {
#endif

#define UV_DRAIN_MODULE_ABI 1

typedef struct uv_drain_module_ctx_s {
  uint32_t abi;               /* UV_DRAIN_MODULE_ABI */
  uint32_t size;              /* sizeof(uv_drain_module_ctx_t) */
  uv_loop_t* loop;            /* the loop the module lives on */
  const uv_drain_api_t* api;  /* uv-drain's C API table */
  uv_drain_owner_t owner;     /* the module's owner id on `loop` */
  const char* name;           /* the module's name (its owner name) */
  void* data;                 /* the module's own; uv-drain never reads it */
} uv_drain_module_ctx_t;

typedef uint32_t (*uv_drain_module_api_fn)(void);
typedef int (*uv_drain_module_fn)(uv_drain_module_ctx_t* ctx);

#ifdef __cplusplus
}
#endif

#endif /* UV_DRAIN_MODULE_H */
