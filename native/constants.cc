// The binding's constant values (constants.h).
#include "constants.h"

#include <initializer_list>
#include <utility>

#include "callbacks.h"
#include "js_arrays.h"
#include "probe.h"
#include "uv_drain.h"

namespace uvdrain {

namespace {

Napi::Object Layout(Napi::Env env, std::initializer_list<std::pair<const char*, int>> fields) {
  Napi::Object o = Napi::Object::New(env);
  for (const auto& field : fields) o.Set(field.first, field.second);
  return o;
}

}  // namespace

Napi::Array TypeNames(Napi::Env env) {
  Napi::Array types = Napi::Array::New(env);
  for (int t = UV_UNKNOWN_HANDLE + 1; t < UV_HANDLE_TYPE_MAX; t++)
    types.Set(t, Napi::String::New(env, uv_handle_type_name(static_cast<uv_handle_type>(t))));
  types.Set(uint32_t{0}, Napi::String::New(env, "unknown"));
  return types;
}

Napi::Object Capabilities(Napi::Env env) {
  Napi::Object caps = Napi::Object::New(env);
  caps.Set("uvVersion", Napi::String::New(env, uv_version_string()));
  caps.Set("tagging", Napi::Boolean::New(env, LayoutProbeOk()));
  caps.Set("modules", Napi::Boolean::New(env, CallbackFieldsKnown()));
  caps.Set("capiVersion", Napi::Number::New(env, UV_DRAIN_API_VERSION));
  return caps;
}

Napi::Object UvErrors(Napi::Env env) {
  Napi::Object uv_errors = Napi::Object::New(env);
#define UVD_EXPORT_ERROR(name, _) uv_errors.Set(#name, Napi::Number::New(env, UV_##name));
  UV_ERRNO_MAP(UVD_EXPORT_ERROR)
#undef UVD_EXPORT_ERROR
  return uv_errors;
}

Napi::Object RecordLayout(Napi::Env env) {
  return Layout(env, {{"fields", kRecordFields},
                      {"addrHi", kRecordAddrHi},
                      {"addrLo", kRecordAddrLo},
                      {"type", kRecordType},
                      {"bits", kRecordBits},
                      {"fd", kRecordFd},
                      {"owner", kRecordOwner},
                      {"sharedObject", kRecordSharedObject},
                      {"bitActive", kBitActive},
                      {"bitRef", kBitRef},
                      {"bitClosing", kBitClosing}});
}

Napi::Object CountsLayout(Napi::Env env) {
  return Layout(env, {{"fields", kCountSlots},
                      {"total", kCountTotal},
                      {"active", kCountActive},
                      {"ref", kCountRef},
                      {"closing", kCountClosing},
                      {"requests", kCountRequests}});
}

Napi::Object StatsLayout(Napi::Env env) {
  return Layout(env, {{"fields", kStatSlots},
                      {"handles", kStatHandles},
                      {"active", kStatActive},
                      {"ref", kStatRef},
                      {"closing", kStatClosing},
                      {"activeReqs", kStatActiveReqs},
                      {"alive", kStatAlive}});
}

Napi::Object OwnerRowLayout(Napi::Env env) {
  return Layout(env, {{"fields", kOwnerRowFields}, {"index", kOwnerRowIndex}, {"counts", kOwnerRowCounts}});
}

Napi::Object MatchLayout(Napi::Env env) {
  return Layout(env, {{"fields", kMatchFields}, {"seq", kMatchSeq}, {"addrHi", kMatchAddrHi}, {"addrLo", kMatchAddrLo}});
}

Napi::Object AddressLayout(Napi::Env env) {
  return Layout(env, {{"fields", kAddressFields}, {"addrHi", kAddressHi}, {"addrLo", kAddressLo}});
}

}  // namespace uvdrain
