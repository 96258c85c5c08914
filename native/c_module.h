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

// { open, init, cleanup, deinit, callbacksInside, close, path, name }:
//
//  open(path, name, ownerId) -> External
//      dlopen(path, RTLD_NOW | RTLD_LOCAL), resolves NAME_api/_init/_cleanup/
//      _deinit and checks NAME_api() == UV_DRAIN_MODULE_ABI. Errors (the
//      object is dlclosed again): code UVD_ERR_DLOPEN (message has dlerror()'s
//      text), UVD_ERR_MODULE_SYMBOL (`symbol`), UVD_ERR_MODULE_ABI
//      (`expected`, `actual`). Nothing of the module runs before the ABI check
//      except its ELF constructors.
//  init(h) / cleanup(h) / deinit(h) -> the module function's int result.
//  callbacksInside(h) -> ids ('0x' + 16 hex digits) of the live handles of
//      this loop (closing ones included) that will call into the module's
//      mapped segments (close_cb while closing, the type's callbacks) or
//      whose memory lies inside them (a static uv_*_t of the module).
//  close(h) -> undefined. dlclose, unless something of the module is still
//      on the loop: UVD_ERR_MODULE_BUSY (`ids`: callbacksInside, `requests`:
//      the owner's requests counted through the C API). A failed dlclose
//      throws UVD_ERR_DLCLOSE (dlerror()'s text). Idempotent after success.
//  path(h), name(h) -> the strings given to open().
//
// After a successful close, init/cleanup/deinit/callbacksInside throw
// UVD_ERR_MODULE_CLOSED. Arguments of the wrong type throw TypeError.
// Must be called on the thread of the environment that opened the module.
Napi::Object CModuleBinding(Napi::Env env);

}  // namespace uvdrain

#endif
