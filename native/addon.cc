// The Node-API face of uv-drain: one Addon instance per Node environment
// (main thread or worker), each with the state of its own loop.
#include <napi.h>
#include <node_api.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "c_module.h"
#include "capi.h"
#include "loop_state.h"
#include "modules.h"
#include "probe.h"
#include "walk.h"
#include "watcher.h"

namespace uvdrain {

namespace {

constexpr int kScratchSize = 8;

uv_loop_t* LoopOf(Napi::Env env) {
  uv_loop_t* loop = nullptr;
  NAPI_FATAL_IF_FAILED(napi_get_uv_event_loop(env, &loop), "uv-drain", "napi_get_uv_event_loop");
  return loop;
}

uint32_t ArgU32(const Napi::CallbackInfo& info, size_t i) {
  return info[i].IsNumber() ? info[i].As<Napi::Number>().Uint32Value() : 0;
}

// true only for the boolean true. Never ToBoolean(): coercion may run JS,
// which fails while a worker is terminated, and node-addon-api turns that
// failure into a fatal error (seen: SetWatchJsState aborting a worker; see
// docs/libuv-internals.md, "Node facts").
bool ArgTrue(const Napi::CallbackInfo& info, size_t i) {
  return info[i].IsBoolean() && info[i].As<Napi::Boolean>().Value();
}

}  // namespace

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports)
      : state_(std::make_unique<LoopState>(LoopOf(env))),
        watcher_(std::make_unique<DrainWatcher>(env, state_.get())) {
    RegisterLoop(state_.get());
    scratch_ = Napi::Persistent(Napi::Float64Array::New(env, kScratchSize));
    // The reference keeps the array (and its backing store) alive; asking
    // V8 for Data() on every call costs ~50 ns on the hot path.
    scratch_data_ = scratch_.Value().IsEmpty() ? scratch_fallback_ : scratch_.Value().Data();

    Napi::Array types = Napi::Array::New(env);
    for (int t = UV_UNKNOWN_HANDLE + 1; t < UV_HANDLE_TYPE_MAX; t++)
      types.Set(t, Napi::String::New(env, uv_handle_type_name(static_cast<uv_handle_type>(t))));
    types.Set(uint32_t{0}, Napi::String::New(env, "unknown"));

    Napi::Object caps = Napi::Object::New(env);
    caps.Set("uvVersion", Napi::String::New(env, uv_version_string()));
    caps.Set("tagging", Napi::Boolean::New(env, LayoutProbeOk()));
    caps.Set("modules", Napi::Boolean::New(env, ModuleAttributionSupported()));
    caps.Set("capiVersion", Napi::Number::New(env, UV_DRAIN_API_VERSION));

    // Where each field of a snapshot record sits (walk.h), so that JS never
    // retypes the layout (src/records.ts).
    Napi::Object record = Napi::Object::New(env);
    record.Set("fields", kRecordFields);
    record.Set("addrHi", static_cast<int>(kAddrHi));
    record.Set("addrLo", static_cast<int>(kAddrLo));
    record.Set("type", static_cast<int>(kType));
    record.Set("bits", static_cast<int>(kBits));
    record.Set("fd", static_cast<int>(kFd));
    record.Set("owner", static_cast<int>(kOwnerIndex));
    record.Set("module", static_cast<int>(kModule));
    record.Set("bitActive", kBitActive);
    record.Set("bitRef", kBitRef);
    record.Set("bitClosing", kBitClosing);

    // libuv's error codes by name (EAGAIN: -11 on Linux), so that JS never
    // retypes a number the C side returns.
    Napi::Object uv_errors = Napi::Object::New(env);
#define UVD_EXPORT_ERROR(name, _) uv_errors.Set(#name, Napi::Number::New(env, UV_##name));
    UV_ERRNO_MAP(UVD_EXPORT_ERROR)
#undef UVD_EXPORT_ERROR

    DefineAddon(exports, {
        InstanceMethod("ownerId", &Addon::OwnerId),
        InstanceMethod("ownerName", &Addon::OwnerName),
        InstanceMethod("countsFor", &Addon::CountsForOwner),
        InstanceMethod("countsByOwner", &Addon::CountsByOwnerMethod),
        InstanceMethod("stats", &Addon::Stats),
        InstanceMethod("snapshot", &Addon::SnapshotMethod),
        InstanceMethod("bareTraversal", &Addon::BareTraversalMethod),
        InstanceMethod("noteBirth", &Addon::NoteBirth),
        InstanceMethod("resolveBirths", &Addon::ResolveBirths),
        InstanceMethod("nextBirth", &Addon::NextBirth),
        InstanceMethod("setRecordMatches", &Addon::SetRecordMatches),
        InstanceMethod("takeMatches", &Addon::TakeMatches),
        InstanceMethod("dropBirthsSince", &Addon::DropBirthsSince),
        InstanceMethod("watch", &Addon::Watch),
        InstanceMethod("unwatch", &Addon::Unwatch),
        InstanceMethod("setWatchCallback", &Addon::SetWatchCallback),
        InstanceMethod("setWatchJsState", &Addon::SetWatchJsState),
        InstanceMethod("watchRecount", &Addon::WatchRecount),
        InstanceMethod("watchIteration", &Addon::WatchIteration),
        InstanceMethod("watchedCounts", &Addon::WatchedCounts),
        InstanceMethod("watcherHasHandle", &Addon::WatcherHasHandle),
        InstanceMethod("handlePath", &Addon::HandlePath),
        InstanceValue("scratch", scratch_.Value()),
        InstanceValue("typeNames", types),
        InstanceValue("capabilities", caps),
        InstanceValue("uvErrors", uv_errors),
        InstanceValue("recordLayout", record),
        InstanceValue("capi", Napi::External<uv_drain_api_t>::New(
                                  env, const_cast<uv_drain_api_t*>(CApiTable()))),
    });
    exports.Set("cmodule", CModuleBinding(env));
  }

  ~Addon() {
    watcher_.reset();
    UnregisterLoop(state_.get());
  }

 private:
  double* Scratch() { return scratch_data_; }

  // ownerId(name: string): number (validated in TypeScript)
  Napi::Value OwnerId(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) {
      Napi::TypeError::New(env, "owner must be a string").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    std::string name = info[0].As<Napi::String>().Utf8Value();
    uint32_t id = 0;
    int err = state_->OwnerId(name.data(), name.size(), &id);
    if (err != 0) {
      Napi::Error e = Napi::Error::New(env, uv_strerror(err));
      e.Set("code", Napi::String::New(env, uv_err_name(err)));
      e.ThrowAsJavaScriptException();
      return env.Undefined();
    }
    return Napi::Number::New(env, id);
  }

  Napi::Value OwnerName(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), state_->OwnerName(ArgU32(info, 0)));
  }

  // countsFor(id): fills scratch[0..4] = total, active, ref, closing, requests.
  Napi::Value CountsForOwner(const Napi::CallbackInfo& info) {
    uint32_t id = ArgU32(info, 0);
    state_->ResolveBirths(false);
    Counts c;
    int64_t requests = 0;
    if (id != 0 && state_->ValidOwner(id)) {
      c = state_->CountsFor(id);
      requests = state_->Requests(id);
    }
    double* s = Scratch();
    s[0] = c.total;
    s[1] = c.active;
    s[2] = c.ref;
    s[3] = c.closing;
    s[4] = static_cast<double>(requests);
    return info.Env().Undefined();
  }

  // countsByOwner(): Float64Array of [index, total, active, ref, closing,
  // requests] for every owner with a live handle or request.
  Napi::Value CountsByOwnerMethod(const Napi::CallbackInfo& info) {
    state_->ResolveBirths(false);
    std::vector<Counts> counts(state_->OwnerCount());
    CountsByOwner(*state_, &counts);
    std::vector<double> out;
    for (uint32_t i = 1; i < counts.size(); i++) {
      int64_t requests = state_->Requests(state_->IdOfIndex(i));
      if (counts[i].total == 0 && requests == 0) continue;
      out.insert(out.end(), {static_cast<double>(i), static_cast<double>(counts[i].total),
                             static_cast<double>(counts[i].active), static_cast<double>(counts[i].ref),
                             static_cast<double>(counts[i].closing), static_cast<double>(requests)});
    }
    Napi::Float64Array arr = Napi::Float64Array::New(info.Env(), out.size());
    // Allocation fails while a worker is being terminated: give up quietly.
    if (arr.IsEmpty()) return info.Env().Undefined();
    std::copy(out.begin(), out.end(), arr.Data());
    return arr;
  }

  // stats(): fills scratch[0..5] = handles, active, ref, closing, activeReqs, alive.
  Napi::Value Stats(const Napi::CallbackInfo& info) {
    LoopStats st = StatsOf(state_->loop());
    double* s = Scratch();
    s[0] = st.handles.total;
    s[1] = st.handles.active;
    s[2] = st.handles.ref;
    s[3] = st.handles.closing;
    s[4] = st.active_reqs;
    s[5] = st.alive ? 1 : 0;
    return info.Env().Undefined();
  }

  // snapshot(withModules): { records: Float64Array, modules: string[] }
  Napi::Value SnapshotMethod(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    state_->ResolveBirths(false);
    bool with_modules = ModuleAttributionSupported() &&
                        !(info[0].IsBoolean() && !info[0].As<Napi::Boolean>().Value());
    std::vector<double> records;
    Snapshot(state_.get(), &modules_, with_modules, &records);
    Napi::Float64Array arr = Napi::Float64Array::New(env, records.size());
    if (arr.IsEmpty()) return env.Undefined();  // worker being terminated
    std::copy(records.begin(), records.end(), arr.Data());
    // Raw Node-API with every status checked: setting properties fails
    // while a worker is terminated, and node-addon-api's Set would make that
    // failure fatal. Then the snapshot is simply not returned.
    napi_value names, result, name;
    if (napi_create_array_with_length(env, modules_.Names().size(), &names) != napi_ok ||
        napi_create_object(env, &result) != napi_ok)
      return env.Undefined();
    for (size_t i = 0; i < modules_.Names().size(); i++) {
      const std::string& n = modules_.Names()[i];
      if (napi_create_string_utf8(env, n.data(), n.size(), &name) != napi_ok ||
          napi_set_element(env, names, static_cast<uint32_t>(i), name) != napi_ok)
        return env.Undefined();
    }
    if (napi_set_named_property(env, result, "records", arr) != napi_ok ||
        napi_set_named_property(env, result, "modules", names) != napi_ok)
      return env.Undefined();
    return Napi::Value(env, result);
  }

  Napi::Value BareTraversalMethod(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(BareTraversal(state_->loop())));
  }

  // noteBirth(id, uvType, deferred): called from the async_hooks init hook;
  // id 0 for an unowned birth (see LoopState::NoteBirth). Returns the birth's
  // sequence number, or -1 if it was not recorded.
  Napi::Value NoteBirth(const Napi::CallbackInfo& info) {
    uint32_t id = ArgU32(info, 0);
    uint32_t type = ArgU32(info, 1);
    bool deferred = ArgTrue(info, 2);
    double seq = -1;
    if (LayoutProbeOk() && (id == 0 || state_->ValidOwner(id)) && type > UV_UNKNOWN_HANDLE &&
        type < UV_HANDLE_TYPE_MAX) {
      seq = static_cast<double>(state_->NoteBirth(id, static_cast<uv_handle_type>(type), deferred));
    }
    return Napi::Number::New(info.Env(), seq);
  }

  // setRecordMatches(on)
  Napi::Value SetRecordMatches(const Napi::CallbackInfo& info) {
    state_->SetRecordMatches(ArgTrue(info, 0));
    return info.Env().Undefined();
  }

  // takeMatches(): Float64Array of [seq, addrHi, addrLo] per matched birth.
  Napi::Value TakeMatches(const Napi::CallbackInfo& info) {
    state_->ResolveBirths(false);
    auto matches = state_->TakeMatches();
    Napi::Float64Array arr = Napi::Float64Array::New(info.Env(), matches.size() * 3);
    if (arr.IsEmpty()) return info.Env().Undefined();  // worker being terminated
    for (size_t i = 0; i < matches.size(); i++) {
      uint64_t addr = reinterpret_cast<uintptr_t>(matches[i].second);
      arr[i * 3] = static_cast<double>(matches[i].first);
      arr[i * 3 + 1] = static_cast<double>(addr >> 32);
      arr[i * 3 + 2] = static_cast<double>(addr & 0xffffffffu);
    }
    return arr;
  }

  // nextBirth(): the sequence number the next announced birth will get.
  Napi::Value NextBirth(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(state_->NextBirth()));
  }

  // dropBirthsSince(seq)
  Napi::Value DropBirthsSince(const Napi::CallbackInfo& info) {
    double seq = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 0;
    state_->DropBirthsSince(static_cast<uint64_t>(seq));
    return info.Env().Undefined();
  }

  // resolveBirths(final)
  Napi::Value ResolveBirths(const Napi::CallbackInfo& info) {
    state_->ResolveBirths(ArgTrue(info, 0));
    return info.Env().Undefined();
  }

  // Drain watcher plumbing (see watcher.h). Ids are validated in TypeScript.
  Napi::Value Watch(const Napi::CallbackInfo& info) {
    uint32_t id = ArgU32(info, 0);
    if (state_->ValidOwner(id)) watcher_->Watch(id);
    return info.Env().Undefined();
  }

  Napi::Value Unwatch(const Napi::CallbackInfo& info) {
    watcher_->Unwatch(ArgU32(info, 0));
    return info.Env().Undefined();
  }

  Napi::Value SetWatchCallback(const Napi::CallbackInfo& info) {
    if (info[0].IsFunction()) watcher_->SetCallback(info[0].As<Napi::Function>());
    return info.Env().Undefined();
  }

  Napi::Value SetWatchJsState(const Napi::CallbackInfo& info) {
    watcher_->SetJsState(ArgTrue(info, 0), ArgTrue(info, 1));
    return info.Env().Undefined();
  }

  Napi::Value WatchRecount(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), watcher_->Recount());
  }

  // watchedCounts(id): fills scratch[0..4] from the watcher's last recount
  // (no walk); false if `id` is not watched.
  Napi::Value WatchedCounts(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), watcher_->LastCounts(ArgU32(info, 0), Scratch()));
  }

  Napi::Value WatchIteration(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(watcher_->Iteration()));
  }

  Napi::Value WatcherHasHandle(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), watcher_->HasHandle());
  }

  // handlePath(addrHi, addrLo): the path libuv keeps for the live handle at
  // that address — what an fs.watch or fs.watchFile watches, a pipe's name
  // (or its peer's) — or undefined. The handle is looked up in the loop's
  // queue first: an address that is no longer a handle is never read (see
  // docs/libuv-internals.md, "Public calls made on found handles").
  Napi::Value HandlePath(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uintptr_t addr = (static_cast<uintptr_t>(ArgU32(info, 0)) << 32) | ArgU32(info, 1);
    uv_handle_t* found = nullptr;
    ForEachHandle(state_->loop(), [&](uv_handle_t* h) {
      if (reinterpret_cast<uintptr_t>(h) == addr) found = h;
    });
    if (found == nullptr || uv_is_closing(found)) return env.Undefined();
    char buf[4096];
    size_t size = sizeof(buf);
    int err = UV_EINVAL;
    switch (found->type) {
      case UV_FS_EVENT:
        err = uv_fs_event_getpath(reinterpret_cast<uv_fs_event_t*>(found), buf, &size);
        break;
      case UV_FS_POLL:
        err = uv_fs_poll_getpath(reinterpret_cast<uv_fs_poll_t*>(found), buf, &size);
        break;
      case UV_NAMED_PIPE:
        err = uv_pipe_getsockname(reinterpret_cast<uv_pipe_t*>(found), buf, &size);
        if (err == 0 && size == 0) {
          size = sizeof(buf);
          err = uv_pipe_getpeername(reinterpret_cast<uv_pipe_t*>(found), buf, &size);
        }
        break;
      default:
        break;
    }
    if (err != 0 || size == 0) return env.Undefined();
    // A pipe name may be abstract (a leading NUL) or unterminated.
    std::string path(buf, strnlen(buf, size));
    if (path.empty()) return env.Undefined();
    return Napi::String::New(env, path);
  }

  std::unique_ptr<LoopState> state_;
  std::unique_ptr<DrainWatcher> watcher_;
  ModuleIndex modules_;
  Napi::Reference<Napi::Float64Array> scratch_;
  double* scratch_data_ = nullptr;
  double scratch_fallback_[kScratchSize] = {};  // if V8 refused the array
};

}  // namespace uvdrain

using UvDrainAddon = uvdrain::Addon;
NODE_API_ADDON(UvDrainAddon)
