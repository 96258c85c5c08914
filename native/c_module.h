// Loading and removing native C modules (native/include/uv_drain_module.h):
// dlopen, the four entry points, and the last safety net before dlclose.
//
// The binding is per Node environment only through the values it returns:
// each open() makes one heap object (the module's state, its ctx and its
// address ranges) held by the returned External; nothing is static.
#ifndef UV_DRAIN_C_MODULE_H
#define UV_DRAIN_C_MODULE_H

#include <napi.h>

namespace uvdrain {

// { abi, open, init, cleanup, deinit, callbacksInside, pacedPending, close,
//   path, name }:
//
//  open(path, name, ownerId[, ownerName]) -> External
//      dlopen(path, RTLD_NOW | RTLD_LOCAL), resolves NAME_api/_init/_cleanup/
//      _deinit and checks NAME_api() == UV_DRAIN_MODULE_ABI. Errors (the
//      object is dlclosed again): code UVD_ERR_DLOPEN (message has dlerror()'s
//      text), UVD_ERR_MODULE_LOADED (already loaded in the process),
//      UVD_ERR_MODULE_SYMBOL (`symbol`), UVD_ERR_MODULE_ABI (`expected`,
//      `actual`); an owner id that is not this loop's is a RangeError.
//      Nothing of the module runs before the ABI check except its ELF
//      constructors. The module's ctx has budget_left and continue_later
//      (c_module_later.h).
//  init(h) / cleanup(h) / deinit(h) -> the module function's int result.
//  callbacksInside(h) -> Float64Array of an AddressField row (js_arrays.h)
//      per live handle of this loop (closing ones included, whoever owns
//      it) that will call into the module's mapped segments (close_cb while
//      closing, the type's callbacks) or whose memory lies inside them (a
//      static uv_*_t of the module). src/c-module.ts makes them ids.
//  pacedPending(h) -> the continuations the module asked for through
//      ctx->continue_later that have not run yet (c_module_later.h); 0 once
//      closed.
//  close(h) -> undefined once dlclosed. While something of the module is
//      still on the loop it closes nothing and returns what holds it:
//      { handles: callbacksInside, requests: the owner's requests counted
//      through the C API, continuations: pacedPending, paced: a
//      continuation is pending or the handles that run them are still
//      closing }; src/c-module.ts throws UVD_ERR_MODULE_BUSY then.
//      A failed dlclose throws UVD_ERR_DLCLOSE (dlerror()'s text).
//      Idempotent after success.
//  path(h), name(h) -> the strings given to open().
//
// After a successful close, init/cleanup/deinit/callbacksInside throw
// UVD_ERR_MODULE_CLOSED. Arguments of the wrong type throw TypeError. Every
// error is made with errors.h.
// Must be called on the thread of the environment that opened the module.
Napi::Object CModuleBinding(Napi::Env env);

}  // namespace uvdrain

#endif
