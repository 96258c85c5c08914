// The C module binding (c_module.h): open() in steps (arguments, context,
// one dlopen, entry points and ABI, segments), the entry point calls, and
// close(), the last check before dlclose.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "c_module.h"

#include <dlfcn.h>
#include <node_api.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "c_module_later.h"
#include "c_module_ranges.h"
#include "capi.h"
#include "errors.h"
#include "uv_drain_module.h"

namespace uvdrain {

namespace {

// Marks the Externals made by open(): any other External (the C API table,
// another addon's) is refused instead of being read as a module.
constexpr napi_type_tag kModuleTag = {0x7576647261696e2dULL, 0x636d6f64756c6531ULL};

struct Module {
  std::string path;
  std::string name;        // symbol prefix
  std::string owner_name;  // ctx->name
  void* dl = nullptr;  // nullptr once closed
  uv_drain_module_fn init = nullptr;
  uv_drain_module_fn cleanup = nullptr;
  uv_drain_module_fn deinit = nullptr;
  PacedContext paced;  // paced.ctx is the module's ctx
  std::unique_ptr<Continuations> later;  // what continue_later asked for
  std::vector<Range> ranges;  // the object's PT_LOAD segments, while loaded
  uv_drain_module_ctx_t& ctx() { return paced.ctx; }
};

// The fields of a version 1 context stay where v1 modules read them.
static_assert(offsetof(uv_drain_module_ctx_t, abi) == 0 && offsetof(uv_drain_module_ctx_t, size) == 4 &&
                  offsetof(uv_drain_module_ctx_t, loop) == 8 && offsetof(uv_drain_module_ctx_t, api) == 16 &&
                  offsetof(uv_drain_module_ctx_t, owner) == 24 && offsetof(uv_drain_module_ctx_t, name) == 32 &&
                  offsetof(uv_drain_module_ctx_t, data) == 40,
              "the v1 module context layout is fixed");

std::string DlError() {
  const char* e = dlerror();
  return e != nullptr ? e : "unknown dynamic linker error";
}

// undefined while a worker is being terminated (allocations fail).
Napi::Value ToFloat64Array(Napi::Env env, const std::vector<double>& rows) {
  Napi::Float64Array out = Napi::Float64Array::New(env, rows.size());
  if (out.IsEmpty()) return env.Undefined();
  std::copy(rows.begin(), rows.end(), out.Data());
  return out;
}

// ---- argument checks -------------------------------------------------------

bool IsCIdentifier(const std::string& s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

void Finalize(Napi::Env, Module* m) {
  std::unique_ptr<Module> owned(m);
  // A module still loaded when its External is collected is left loaded,
  // ctx included: its handles may still point at both. Never dlclose here.
  if (owned->dl != nullptr) owned.release();
}

// The Module of argument i, or nullptr (exception pending).
Module* ModuleArg(const Napi::CallbackInfo& info, size_t i) {
  Napi::Env env = info.Env();
  bool ok = false;
  if (info[i].IsExternal()) napi_check_object_type_tag(env, info[i], &kModuleTag, &ok);
  if (!ok) {
    ThrowTypeError(env, "The \"module\" argument must be a module handle returned by open()");
    return nullptr;
  }
  return info[i].As<Napi::External<Module>>().Data();
}

Module* OpenModuleArg(const Napi::CallbackInfo& info, size_t i) {
  Module* m = ModuleArg(info, i);
  if (m != nullptr && m->dl == nullptr) {
    ThrowCoded(info.Env(), "UVD_ERR_MODULE_CLOSED", "module '" + m->name + "' (" + m->path + ") is closed");
    return nullptr;
  }
  return m;
}

// ---- open() ----------------------------------------------------------------

// open()'s arguments in `m` (path, name, ctx.owner, owner_name); false with
// an exception pending.
bool ReadOpenArgs(const Napi::CallbackInfo& info, Module* m) {
  Napi::Env env = info.Env();
  if (!StringArg(info, 0, "path", &m->path) || !StringArg(info, 1, "name", &m->name)) return false;
  if (!IsCIdentifier(m->name)) {
    ThrowTypeError(env, "The \"name\" argument must be a C identifier (its symbols are NAME_api, NAME_init...)");
    return false;
  }
  if (!info[2].IsNumber()) {
    ThrowTypeError(env, "The \"ownerId\" argument must be a number");
    return false;
  }
  double owner = info[2].As<Napi::Number>().DoubleValue();
  if (!(owner >= 1 && owner <= 4294967295.0) || owner != static_cast<double>(static_cast<uint32_t>(owner))) {
    ThrowTypeError(env, "The \"ownerId\" argument must be an owner id (an integer from 1 to 2^32-1)");
    return false;
  }
  m->ctx().owner = static_cast<uv_drain_owner_t>(owner);
  m->owner_name = info[3].IsString() ? info[3].As<Napi::String>().Utf8Value() : m->name;
  return true;
}

// The rest of ctx: this environment's loop, the C API, and the owner, which
// must be one of that loop's. False with an exception pending.
bool BuildContext(Napi::Env env, Module* m) {
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    ThrowCoded(env, "UVD_ERR_NO_LOOP", "uv-drain: napi_get_uv_event_loop failed");
    return false;
  }
  const uv_drain_api_t* api = CApiTable();
  uv_drain_counts_t counts;
  if (api->counts(loop, m->ctx().owner, &counts) != 0) {
    ThrowRangeError(env, "The \"ownerId\" argument is not an owner id of this loop");
    return false;
  }
  m->ctx().abi = UV_DRAIN_MODULE_ABI;
  m->ctx().size = sizeof(uv_drain_module_ctx_t);
  m->ctx().loop = loop;
  m->ctx().api = api;
  m->ctx().name = m->owner_name.c_str();  // never modified again
  m->ctx().data = nullptr;
  m->later = std::make_unique<Continuations>(env, &m->paced);
  return true;
}

// dlopen of m->path into m->dl, once: a second dlopen of a loaded object
// only bumps its reference count, sharing the first one's statics, and its
// dlclose would unmap nothing (see docs/libuv-internals.md, "C modules:
// segments and dlclose"). False with an exception pending.
bool LoadOnce(Napi::Env env, Module* m) {
  const std::string& path = m->path;
  dlerror();
  if (void* already = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD)) {
    dlclose(already);
    Napi::Error e = CodedError(
        env, "UVD_ERR_MODULE_LOADED",
        "uv-drain: " + path + " is already loaded in this process; a module must be loaded once to be unloadable");
    e.Set("path", Napi::String::New(env, path));
    Throw(e);
    return false;
  }
  dlerror();
  m->dl = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (m->dl == nullptr) {
    Napi::Error e = CodedError(env, "UVD_ERR_DLOPEN", "uv-drain: cannot load " + path + ": " + DlError());
    e.Set("path", Napi::String::New(env, path));
    Throw(e);
    return false;
  }
  return true;
}

// A failure of open() once the object is loaded, with `path` and `module`.
Napi::Error LoadedError(Napi::Env env, const Module& m, const char* code, const std::string& message) {
  Napi::Error e = CodedError(env, code, message);
  e.Set("path", Napi::String::New(env, m.path));
  e.Set("module", Napi::String::New(env, m.name));
  return e;
}

// NAME + suffix in the loaded object, or nullptr with *error made (dlerror()'s
// text is taken now, before anything else calls the dynamic linker).
void* Resolve(Napi::Env env, const Module& m, const char* suffix, Napi::Error* error) {
  std::string symbol = m.name + suffix;
  dlerror();
  void* found = dlsym(m.dl, symbol.c_str());
  if (found != nullptr) return found;
  std::string why = DlError();
  *error = LoadedError(env, m, "UVD_ERR_MODULE_SYMBOL",
                       "uv-drain: " + m.path + " has no symbol " + symbol + " (is the module named '" + m.name +
                           "'?): " + why);
  error->Set("symbol", Napi::String::New(env, symbol));
  return nullptr;
}

// NAME_api first, and its ABI checked, before the other symbols: a module of
// another ABI may not have them. An empty error when all three entry points
// are found.
Napi::Error ResolveEntryPoints(Napi::Env env, Module* m) {
  Napi::Error error;
  void* api = Resolve(env, *m, "_api", &error);
  if (api == nullptr) return error;
  uint32_t abi = reinterpret_cast<uv_drain_module_api_fn>(api)();
  if (abi != UV_DRAIN_MODULE_ABI) {
    error = LoadedError(env, *m, "UVD_ERR_MODULE_ABI",
                        "uv-drain: module '" + m->name + "' (" + m->path + ") was built for module ABI " +
                            std::to_string(abi) + ", this uv-drain loads ABI " + std::to_string(UV_DRAIN_MODULE_ABI));
    error.Set("expected", Napi::Number::New(env, UV_DRAIN_MODULE_ABI));
    error.Set("actual", Napi::Number::New(env, abi));
    return error;
  }
  std::pair<const char*, uv_drain_module_fn Module::*> entry_points[] = {
      {"_init", &Module::init}, {"_cleanup", &Module::cleanup}, {"_deinit", &Module::deinit}};
  for (const auto& entry : entry_points) {
    void* fn = Resolve(env, *m, entry.first, &error);
    if (fn == nullptr) return error;
    m->*entry.second = reinterpret_cast<uv_drain_module_fn>(fn);
  }
  return error;
}

// The module's mapped segments in m->ranges. An empty error when found.
Napi::Error MapSegments(Napi::Env env, Module* m) {
  if (SegmentsOf(m->dl, &m->ranges)) return Napi::Error();
  return LoadedError(env, *m, "UVD_ERR_DLOPEN", "uv-drain: cannot find the mapped segments of " + m->path);
}

// open(path, name, ownerId[, ownerName]) -> External. `name` is the symbol
// prefix; ctx->name is `ownerName` when given (an owner tag need not be a C
// identifier), else `name`.
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto m = std::make_unique<Module>();
  if (!ReadOpenArgs(info, m.get()) || !BuildContext(env, m.get()) || !LoadOnce(env, m.get()))
    return env.Undefined();
  Napi::Error failed = ResolveEntryPoints(env, m.get());
  if (failed.IsEmpty()) failed = MapSegments(env, m.get());
  if (!failed.IsEmpty()) {
    dlclose(m->dl);
    return Throw(failed);
  }
  Napi::External<Module> ext = Napi::External<Module>::New(env, m.get(), Finalize);
  if (ext.IsEmpty()) {
    // Never handed out: dlclosed again, as after any failure of open().
    dlclose(m->dl);
    return env.Undefined();
  }
  m.release();  // the External's finalizer owns it now
  napi_type_tag_object(env, ext, &kModuleTag);
  return ext;
}

// ---- the other functions ---------------------------------------------------

Napi::Value Call(const Napi::CallbackInfo& info, uv_drain_module_fn Module::*fn) {
  Module* m = OpenModuleArg(info, 0);
  if (m == nullptr) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), (m->*fn)(&m->ctx()));
}

Napi::Value Init(const Napi::CallbackInfo& info) { return Call(info, &Module::init); }
Napi::Value Cleanup(const Napi::CallbackInfo& info) { return Call(info, &Module::cleanup); }
Napi::Value Deinit(const Napi::CallbackInfo& info) { return Call(info, &Module::deinit); }

Napi::Value CallbacksInsideMethod(const Napi::CallbackInfo& info) {
  Module* m = OpenModuleArg(info, 0);
  if (m == nullptr) return info.Env().Undefined();
  return ToFloat64Array(info.Env(), HandlesInside(m->ctx().loop, m->ranges));
}

// close(h): the last safety net. The coordinator calls it once deinit
// returned 0 and the owner's counts are zero; this re-checks what would make
// dlclose fatal: a live handle that will call into (or lives in) the module,
// or a request the module counted and has not ended (its callback is module
// code too, and libuv cannot list requests). Then it refuses, and returns
// what holds the module (src/c-module.ts makes the error).
Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Module* m = ModuleArg(info, 0);
  if (m == nullptr || m->dl == nullptr) return env.Undefined();
  std::vector<double> handles = HandlesInside(m->ctx().loop, m->ranges);
  uv_drain_counts_t counts{};
  uint32_t requests = m->ctx().api->counts(m->ctx().loop, m->ctx().owner, &counts) == 0 ? counts.requests : 0;
  // A pending continuation is a pointer into the module's code; the handles
  // that run it close after the last one ran.
  bool paced = !m->later->Idle();
  if (!handles.empty() || requests != 0 || paced) {
    Napi::Object held = Napi::Object::New(env);
    held.Set("handles", ToFloat64Array(env, handles));
    held.Set("requests", Napi::Number::New(env, requests));
    held.Set("continuations", Napi::Number::New(env, static_cast<double>(m->later->Pending())));
    held.Set("paced", Napi::Boolean::New(env, paced));
    return held;
  }
  void* dl = m->dl;
  // Whatever dlclose says, the handle is spent (glibc fails only on an
  // invalid handle): a retry must not dlclose twice.
  m->dl = nullptr;
  m->ranges.clear();
  dlerror();
  if (dlclose(dl) != 0) {
    Napi::Error e = CodedError(env, "UVD_ERR_DLCLOSE", "uv-drain: dlclose of " + m->path + " failed: " + DlError());
    e.Set("module", Napi::String::New(env, m->name));
    return Throw(e);
  }
  return env.Undefined();
}

// pacedPending(h): the continuations the module asked for that have not run
// (0 once it is closed).
Napi::Value PacedPending(const Napi::CallbackInfo& info) {
  Module* m = ModuleArg(info, 0);
  if (m == nullptr) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), m->dl == nullptr ? 0 : static_cast<double>(m->later->Pending()));
}

Napi::Value Path(const Napi::CallbackInfo& info) {
  Module* m = ModuleArg(info, 0);
  return m == nullptr ? info.Env().Undefined() : Napi::String::New(info.Env(), m->path);
}

Napi::Value Name(const Napi::CallbackInfo& info) {
  Module* m = ModuleArg(info, 0);
  return m == nullptr ? info.Env().Undefined() : Napi::String::New(info.Env(), m->name);
}

}  // namespace

Napi::Object CModuleBinding(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("abi", Napi::Number::New(env, UV_DRAIN_MODULE_ABI));
  o.Set("open", Napi::Function::New(env, Open, "open"));
  o.Set("init", Napi::Function::New(env, Init, "init"));
  o.Set("cleanup", Napi::Function::New(env, Cleanup, "cleanup"));
  o.Set("deinit", Napi::Function::New(env, Deinit, "deinit"));
  o.Set("callbacksInside", Napi::Function::New(env, CallbacksInsideMethod, "callbacksInside"));
  o.Set("close", Napi::Function::New(env, Close, "close"));
  o.Set("pacedPending", Napi::Function::New(env, PacedPending, "pacedPending"));
  o.Set("path", Napi::Function::New(env, Path, "path"));
  o.Set("name", Napi::Function::New(env, Name, "name"));
  return o;
}

}  // namespace uvdrain
