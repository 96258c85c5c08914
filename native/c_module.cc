// Loading and removing native C modules: see c_module.h and
// native/include/uv_drain_module.h.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "c_module.h"

#include <dlfcn.h>
#include <link.h>
#include <node_api.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "capi.h"
#include "modules.h"
#include "uv_drain_module.h"
#include "uv_layout.h"

namespace uvdrain {

namespace {

// Marks the Externals made by open(): any other External (the C API table,
// another addon's) is refused instead of being read as a module.
constexpr napi_type_tag kModuleTag = {0x7576647261696e2dULL, 0x636d6f64756c6531ULL};

struct Range {
  uintptr_t start, end;  // [start, end)
};

struct Module {
  std::string path;
  std::string name;        // symbol prefix
  std::string owner_name;  // ctx->name
  void* dl = nullptr;  // nullptr once closed
  uv_drain_module_fn init = nullptr;
  uv_drain_module_fn cleanup = nullptr;
  uv_drain_module_fn deinit = nullptr;
  uv_drain_module_ctx_t ctx{};
  std::vector<Range> ranges;  // the object's PT_LOAD segments, while loaded
};

std::string IdOf(const void* p) {
  char buf[32];
  snprintf(buf, sizeof(buf), "0x%016" PRIx64, static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p)));
  return buf;
}

std::string DlError() {
  const char* e = dlerror();
  return e != nullptr ? e : "unknown dynamic linker error";
}

// Properties must be set before the throw: Node-API calls fail while an
// exception is pending.
Napi::Error CodedError(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  return e;
}

Napi::Value ThrowCoded(Napi::Env env, const std::string& code, const std::string& message) {
  CodedError(env, code, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowType(Napi::Env env, const std::string& message) {
  Napi::TypeError e = Napi::TypeError::New(env, message);
  e.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_TYPE"));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

// ---- address ranges --------------------------------------------------------

struct FindSegments {
  uintptr_t l_addr;
  const char* l_name;
  std::vector<Range>* out;
  bool found;
};

int CollectSegments(struct dl_phdr_info* info, size_t, void* data) {
  auto* f = static_cast<FindSegments*>(data);
  // dl_iterate_phdr reports each link map entry with dlpi_addr = l_addr and
  // dlpi_name = l_name (glibc elf/dl-iteratephdr.c): both must match, since
  // two objects can share a load bias (0 for the main program and vdso).
  // See docs/libuv-internals.md, "C modules: segments and dlclose".
  if (info->dlpi_addr != f->l_addr) return 0;
  const char* name = info->dlpi_name != nullptr ? info->dlpi_name : "";
  if (strcmp(name, f->l_name) != 0) return 0;
  for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
    uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    f->out->push_back({start, start + ph.p_memsz});
  }
  f->found = true;
  return 1;
}

bool SegmentsOf(void* dl, std::vector<Range>* out) {
  struct link_map* map = nullptr;
  if (dlinfo(dl, RTLD_DI_LINKMAP, &map) != 0 || map == nullptr) return false;
  FindSegments f{static_cast<uintptr_t>(map->l_addr), map->l_name != nullptr ? map->l_name : "", out,
                 false};
  dl_iterate_phdr(CollectSegments, &f);
  return f.found && !out->empty();
}

bool Inside(const std::vector<Range>& ranges, const void* p) {
  if (p == nullptr) return false;
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  for (const Range& r : ranges)
    if (a >= r.start && a < r.end) return true;
  return false;
}

// True when libuv may still call into (or read memory of) the module because
// of `h`: its close_cb while closing, any callback its type keeps, or the
// handle itself living in the module's data/bss.
bool PointsInside(const std::vector<Range>& ranges, const uv_handle_t* h) {
  if (Inside(ranges, h)) return true;
  // close_cb is a private field of UV_HANDLE_FIELDS, at the same offset in
  // every handle type and every libuv 1.x checked, so it is read whatever
  // the version. It is not reset by uv__handle_init, so it only means
  // something once uv_close() was called (see docs/libuv-internals.md,
  // "Closing handles").
  if (IsClosing(h) && Inside(ranges, reinterpret_cast<const void*>(h->close_cb))) return true;
  if (!ModuleAttributionSupported()) return false;
  // A closing handle's type callbacks are checked too: cheap, and only ever
  // delays the unload until the close callback has run.
  if (Inside(ranges, TypeCallback(h))) return true;
  switch (h->type) {
    case UV_TCP:
    case UV_NAMED_PIPE:
    case UV_TTY: {
      auto* s = reinterpret_cast<const uv_stream_t*>(h);
      return Inside(ranges, reinterpret_cast<const void*>(s->alloc_cb)) ||
             Inside(ranges, reinterpret_cast<const void*>(s->read_cb)) ||
             Inside(ranges, reinterpret_cast<const void*>(s->connection_cb));
    }
    case UV_UDP: {
      auto* u = reinterpret_cast<const uv_udp_t*>(h);
      return Inside(ranges, reinterpret_cast<const void*>(u->alloc_cb)) ||
             Inside(ranges, reinterpret_cast<const void*>(u->recv_cb));
    }
    default: return false;
  }
}

std::vector<std::string> CallbacksInside(const Module& m) {
  std::vector<std::string> ids;
  ForEachHandle(m.ctx.loop, [&](uv_handle_t* h) {
    if (PointsInside(m.ranges, h)) ids.push_back(IdOf(h));
  });
  return ids;
}

// ---- argument checks -------------------------------------------------------

bool StringArg(const Napi::CallbackInfo& info, size_t i, const char* what, std::string* out) {
  if (!info[i].IsString()) {
    ThrowType(info.Env(), std::string("The \"") + what + "\" argument must be a string");
    return false;
  }
  *out = info[i].As<Napi::String>().Utf8Value();
  if (out->empty() || out->find('\0') != std::string::npos) {
    ThrowType(info.Env(), std::string("The \"") + what + "\" argument must be a non-empty string without NUL");
    return false;
  }
  return true;
}

bool IsCIdentifier(const std::string& s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

void Finalize(napi_env, void* data, void*) {
  auto* m = static_cast<Module*>(data);
  // A module still loaded when its External is collected is left loaded,
  // ctx included: its handles may still point at both. Never dlclose here.
  if (m->dl == nullptr) delete m;
}

// The Module of argument i, or nullptr (exception pending).
Module* ModuleArg(const Napi::CallbackInfo& info, size_t i) {
  Napi::Env env = info.Env();
  bool ok = false;
  if (info[i].IsExternal()) napi_check_object_type_tag(env, info[i], &kModuleTag, &ok);
  if (!ok) {
    ThrowType(env, "The \"module\" argument must be a module handle returned by open()");
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

// ---- the functions ---------------------------------------------------------

// open(path, name, ownerId[, ownerName]) -> External. `name` is the symbol
// prefix; ctx->name is `ownerName` when given (an owner tag need not be a C
// identifier), else `name`.
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path, name;
  if (!StringArg(info, 0, "path", &path) || !StringArg(info, 1, "name", &name)) return env.Undefined();
  if (!IsCIdentifier(name))
    return ThrowType(env, "The \"name\" argument must be a C identifier (its symbols are NAME_api, NAME_init...)");
  if (!info[2].IsNumber()) return ThrowType(env, "The \"ownerId\" argument must be a number");
  double owner_d = info[2].As<Napi::Number>().DoubleValue();
  if (!(owner_d >= 1 && owner_d <= 4294967295.0) || owner_d != static_cast<double>(static_cast<uint32_t>(owner_d)))
    return ThrowType(env, "The \"ownerId\" argument must be an owner id (an integer from 1 to 2^32-1)");
  auto owner = static_cast<uv_drain_owner_t>(owner_d);

  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr)
    return ThrowCoded(env, "UVD_ERR_NO_LOOP", "uv-drain: napi_get_uv_event_loop failed");
  const uv_drain_api_t* api = CApiTable();
  uv_drain_counts_t counts;
  if (api->counts(loop, owner, &counts) != 0) {
    Napi::RangeError e = Napi::RangeError::New(env, "The \"ownerId\" argument is not an owner id of this loop");
    e.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_VALUE"));
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  }

  // A second dlopen of a loaded object only bumps its reference count: it
  // would share the first one's statics, and its dlclose would unmap nothing
  // (see docs/libuv-internals.md, "C modules: segments and dlclose").
  dlerror();
  if (void* already = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD)) {
    dlclose(already);
    Napi::Error err = CodedError(
        env, "UVD_ERR_MODULE_LOADED",
        "uv-drain: " + path + " is already loaded in this process; a module must be loaded once to be unloadable");
    err.Set("path", Napi::String::New(env, path));
    err.ThrowAsJavaScriptException();
    return env.Undefined();
  }

  dlerror();
  void* dl = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (dl == nullptr) {
    Napi::Error err = CodedError(env, "UVD_ERR_DLOPEN", "uv-drain: cannot load " + path + ": " + DlError());
    err.Set("path", Napi::String::New(env, path));
    err.ThrowAsJavaScriptException();
    return env.Undefined();
  }

  // Any failure from here on: dlclose again (dlerror() text is taken first).
  auto fail = [&](const std::string& code, const std::string& message, auto&& decorate) {
    Napi::Error err = CodedError(env, code, message);
    err.Set("path", Napi::String::New(env, path));
    err.Set("module", Napi::String::New(env, name));
    decorate(err);
    dlclose(dl);
    err.ThrowAsJavaScriptException();
    return env.Undefined();
  };
  auto resolve = [&](const char* suffix, void** out) {
    std::string symbol = name + suffix;
    dlerror();
    *out = dlsym(dl, symbol.c_str());
    if (*out != nullptr) return std::string();
    return symbol;
  };

  // NAME_api first: a module of another ABI may not have the other symbols.
  void* api_sym = nullptr;
  std::string missing = resolve("_api", &api_sym);
  auto missing_symbol = [&](const std::string& symbol) {
    std::string why = DlError();
    return fail("UVD_ERR_MODULE_SYMBOL",
                "uv-drain: " + path + " has no symbol " + symbol + " (is the module named '" + name +
                    "'?): " + why,
                [&](Napi::Error& e) { e.Set("symbol", Napi::String::New(env, symbol)); });
  };
  if (!missing.empty()) return missing_symbol(missing);
  uint32_t abi = reinterpret_cast<uv_drain_module_api_fn>(api_sym)();
  if (abi != UV_DRAIN_MODULE_ABI) {
    return fail("UVD_ERR_MODULE_ABI",
                "uv-drain: module '" + name + "' (" + path + ") was built for module ABI " + std::to_string(abi) +
                    ", this uv-drain loads ABI " + std::to_string(UV_DRAIN_MODULE_ABI),
                [&](Napi::Error& e) {
                  e.Set("expected", Napi::Number::New(env, UV_DRAIN_MODULE_ABI));
                  e.Set("actual", Napi::Number::New(env, abi));
                });
  }
  void* fns[3] = {nullptr, nullptr, nullptr};
  const char* suffixes[3] = {"_init", "_cleanup", "_deinit"};
  for (int i = 0; i < 3; i++) {
    missing = resolve(suffixes[i], &fns[i]);
    if (!missing.empty()) return missing_symbol(missing);
  }

  auto* m = new Module();
  m->path = path;
  m->name = name;
  m->dl = dl;
  m->init = reinterpret_cast<uv_drain_module_fn>(fns[0]);
  m->cleanup = reinterpret_cast<uv_drain_module_fn>(fns[1]);
  m->deinit = reinterpret_cast<uv_drain_module_fn>(fns[2]);
  if (!SegmentsOf(dl, &m->ranges)) {
    delete m;
    return fail("UVD_ERR_DLOPEN", "uv-drain: cannot find the mapped segments of " + path, [](Napi::Error&) {});
  }
  m->ctx.abi = UV_DRAIN_MODULE_ABI;
  m->ctx.size = sizeof(uv_drain_module_ctx_t);
  m->ctx.loop = loop;
  m->ctx.api = api;
  m->ctx.owner = owner;
  m->owner_name = info[3].IsString() ? info[3].As<Napi::String>().Utf8Value() : name;
  m->ctx.name = m->owner_name.c_str();  // never modified again
  m->ctx.data = nullptr;

  Napi::External<Module> ext = Napi::External<Module>::New(env, m, [](Napi::Env e, Module* p) {
    Finalize(e, p, nullptr);
  });
  napi_type_tag_object(env, ext, &kModuleTag);
  return ext;
}

Napi::Value Call(const Napi::CallbackInfo& info, uv_drain_module_fn Module::*fn) {
  Module* m = OpenModuleArg(info, 0);
  if (m == nullptr) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), (m->*fn)(&m->ctx));
}

Napi::Value Init(const Napi::CallbackInfo& info) { return Call(info, &Module::init); }
Napi::Value Cleanup(const Napi::CallbackInfo& info) { return Call(info, &Module::cleanup); }
Napi::Value Deinit(const Napi::CallbackInfo& info) { return Call(info, &Module::deinit); }

Napi::Array IdArray(Napi::Env env, const std::vector<std::string>& ids) {
  Napi::Array a = Napi::Array::New(env, ids.size());
  for (size_t i = 0; i < ids.size(); i++) a.Set(static_cast<uint32_t>(i), Napi::String::New(env, ids[i]));
  return a;
}

Napi::Value CallbacksInsideMethod(const Napi::CallbackInfo& info) {
  Module* m = OpenModuleArg(info, 0);
  if (m == nullptr) return info.Env().Undefined();
  return IdArray(info.Env(), CallbacksInside(*m));
}

// close(h): the last safety net. The coordinator calls it once deinit
// returned 0 and the owner's counts are zero; this re-checks what would make
// dlclose fatal: a live handle that will call into (or lives in) the module,
// or a request the module counted and has not ended (its callback is module
// code too, and libuv cannot list requests).
Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Module* m = ModuleArg(info, 0);
  if (m == nullptr || m->dl == nullptr) return env.Undefined();
  std::vector<std::string> ids = CallbacksInside(*m);
  uv_drain_counts_t counts{};
  uint32_t requests = m->ctx.api->counts(m->ctx.loop, m->ctx.owner, &counts) == 0 ? counts.requests : 0;
  if (!ids.empty() || requests != 0) {
    std::string list;
    for (const std::string& id : ids) list += (list.empty() ? "" : ", ") + id;
    std::string what;
    if (!ids.empty()) what = std::to_string(ids.size()) + " live handle(s) calling into it (" + list + ")";
    if (requests != 0)
      what += (what.empty() ? "" : " and ") + std::to_string(requests) + " request(s) in flight";
    Napi::Error err =
        CodedError(env, "UVD_ERR_MODULE_BUSY", "uv-drain: module '" + m->name + "' cannot be unloaded yet: " + what);
    err.Set("ids", IdArray(env, ids));
    err.Set("requests", Napi::Number::New(env, requests));
    err.Set("module", Napi::String::New(env, m->name));
    err.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  void* dl = m->dl;
  // Whatever dlclose says, the handle is spent (glibc fails only on an
  // invalid handle): a retry must not dlclose twice.
  m->dl = nullptr;
  m->ranges.clear();
  dlerror();
  if (dlclose(dl) != 0) {
    Napi::Error err = CodedError(env, "UVD_ERR_DLCLOSE", "uv-drain: dlclose of " + m->path + " failed: " + DlError());
    err.Set("module", Napi::String::New(env, m->name));
    err.ThrowAsJavaScriptException();
  }
  return env.Undefined();
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
  o.Set("path", Napi::Function::New(env, Path, "path"));
  o.Set("name", Napi::Function::New(env, Name, "name"));
  return o;
}

}  // namespace uvdrain
