// The binding's constant values, made once per environment: libuv's type
// names and error codes, what this build and this libuv can do, and the
// layout of every number array the binding shares with JS (js_arrays.h).
#ifndef UV_DRAIN_CONSTANTS_H
#define UV_DRAIN_CONSTANTS_H

#include <napi.h>

namespace uvdrain {

// typeNames: uv_handle_type_name() by type number, 'unknown' at 0.
Napi::Array TypeNames(Napi::Env env);

// capabilities: { uvVersion, tagging, modules, capiVersion }. `modules`: a
// handle's callbacks can be read and named by shared object
// (CallbackFieldsKnown(), callbacks.h); public as capabilities.modules.
Napi::Object Capabilities(Napi::Env env);

// uvErrors: libuv's error codes by name (EAGAIN: -11 on Linux), so that JS
// never retypes a number the C side returns.
Napi::Object UvErrors(Napi::Env env);

// The layouts of js_arrays.h, each { fields, <name>: position... }.
Napi::Object RecordLayout(Napi::Env env);
Napi::Object CountsLayout(Napi::Env env);
Napi::Object StatsLayout(Napi::Env env);
Napi::Object OwnerRowLayout(Napi::Env env);
Napi::Object MatchLayout(Napi::Env env);
Napi::Object AddressLayout(Napi::Env env);

}  // namespace uvdrain

#endif
