/*
 * uv_drain.h - the C API of uv-drain, for addons and C libraries that create
 * libuv handles and requests on a Node.js loop and want them accounted to an
 * owner.
 *
 * How to get the table: in JavaScript, `require('uv-drain').capi` is an
 * external value; pass it to your addon and read it with
 * napi_get_value_external(). It points to a `const uv_drain_api_t` that lives
 * as long as the process. Check `version` (and `size` before using entries
 * added by later versions).
 *
 * Rules:
 *  - Owners are per loop: an owner id is valid only with the loop it came
 *    from. Ids of one loop are rejected by another (UV_EINVAL).
 *  - Every entry returns 0 or a negative libuv error code. Bad arguments
 *    (NULL, unknown owner, a handle of a loop uv-drain is not loaded on, a
 *    handle that is closing or closed) return UV_EINVAL; nothing crashes.
 *  - Call tag, untag, owner_of, owner and counts on the loop's own thread
 *    (the only thread that may touch its handles); they return UV_EINVAL from
 *    any other thread. request_begin and request_end may be called from any
 *    thread while the loop is alive.
 *  - A tag lives exactly as long as the handle: when the handle is closed
 *    and its memory is reused for a new handle, the new handle is untagged.
 *    A closing handle keeps its owner until its close callback has run.
 */
#ifndef UV_DRAIN_H
#define UV_DRAIN_H

#include <stdint.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UV_DRAIN_API_VERSION 1

/* 0 means "no owner". */
typedef uint32_t uv_drain_owner_t;

typedef struct uv_drain_counts_s {
  uint32_t total;    /* live handles, closing ones included */
  uint32_t active;   /* uv_is_active() */
  uint32_t ref;      /* uv_has_ref() */
  uint32_t closing;  /* uv_close() called, close callback not yet run */
  uint32_t requests; /* requests begun and not yet ended (C API) */
} uv_drain_counts_t;

typedef struct uv_drain_api_s {
  uint32_t version; /* UV_DRAIN_API_VERSION of the loaded uv-drain */
  uint32_t size;    /* sizeof(uv_drain_api_t) of the loaded uv-drain */

  /* The id of owner `name` (NUL-terminated UTF-8 of 1 to 256
   * characters as JavaScript counts them, i.e. UTF-16 code units) on `loop`,
   * creating it on first use. The same name always gives the same id. */
  int (*owner)(uv_loop_t* loop, const char* name, uv_drain_owner_t* out);

  /* Make `owner` the owner of `handle` (initialised, not closing). Retagging
   * moves the handle to the new owner. */
  int (*tag)(uv_handle_t* handle, uv_drain_owner_t owner);

  /* Remove the handle's tag (0 even if it had none). */
  int (*untag)(uv_handle_t* handle);

  /* The handle's owner, 0 if none. */
  int (*owner_of)(const uv_handle_t* handle, uv_drain_owner_t* out);

  /* One request of `owner` is in flight (uv_fs_t, uv_work_t, uv_write_t...):
   * call begin when you submit it and end in its callback. end without a
   * matching begin returns UV_EINVAL and changes nothing. */
  int (*request_begin)(uv_loop_t* loop, uv_drain_owner_t owner);
  int (*request_end)(uv_loop_t* loop, uv_drain_owner_t owner);

  /* The owner's live handles and in-flight requests, counted now. */
  int (*counts)(uv_loop_t* loop, uv_drain_owner_t owner, uv_drain_counts_t* out);
} uv_drain_api_t;

#ifdef __cplusplus
}
#endif

#endif /* UV_DRAIN_H */
