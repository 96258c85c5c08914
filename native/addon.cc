// The Node-API face of uv-drain: one Addon instance per Node environment
// (main thread or worker), each with the state of its own loop, and the
// binding's methods over it. Its constant values are made in constants.cc.
#include <napi.h>
#include <node_api.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "c_module.h"
#include "callbacks.h"
#include "capi.h"
#include "constants.h"
#include "errors.h"
#include "handle_path.h"
#include "js_arrays.h"
#include "loop_state.h"
#include "probe.h"
#include "shared_objects.h"
#include "walk.h"
#include "watcher.h"

namespace uvdrain {

namespace {

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
    if (LayoutProbeOk()) state_->Index().Start(env);
    scratch_ = Napi::Persistent(Napi::Float64Array::New(env, kScratchSize));
    // The reference keeps the array (and its backing store) alive; asking
    // V8 for Data() on every call costs ~50 ns on the hot path.
    scratch_data_ = scratch_.Value().IsEmpty() ? scratch_fallback_ : scratch_.Value().Data();

    DefineAddon(exports, {
        InstanceMethod("ownerId", &Addon::OwnerId),
        InstanceMethod("ownerName", &Addon::OwnerName),
        InstanceMethod("countsFor", &Addon::CountsForOwner),
        InstanceMethod("countsByWalk", &Addon::CountsByWalkMethod),
        InstanceMethod("ownerIndexState", &Addon::OwnerIndexState),
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
        InstanceMethod("handlePath", &Addon::HandlePathMethod),
        InstanceMethod("paceShare", &Addon::PaceShare),
        InstanceMethod("paceLeft", &Addon::PaceLeft),
        InstanceMethod("paceIteration", &Addon::PaceIteration),
        InstanceValue("scratch", scratch_.Value()),
        InstanceValue("typeNames", TypeNames(env)),
        InstanceValue("capabilities", Capabilities(env)),
        InstanceValue("uvErrors", UvErrors(env)),
        InstanceValue("recordLayout", RecordLayout(env)),
        InstanceValue("countsLayout", CountsLayout(env)),
        InstanceValue("statsLayout", StatsLayout(env)),
        InstanceValue("ownerRowLayout", OwnerRowLayout(env)),
        InstanceValue("matchLayout", MatchLayout(env)),
        InstanceValue("addressLayout", AddressLayout(env)),
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
    if (!info[0].IsString()) return ThrowTypeError(env, "owner must be a string");
    std::string name = info[0].As<Napi::String>().Utf8Value();
    uint32_t id = 0;
    int err = state_->OwnerId(name.data(), name.size(), &id);
    if (err != 0) return ThrowCoded(env, uv_err_name(err), uv_strerror(err));
    return Napi::Number::New(env, id);
  }

  Napi::Value OwnerName(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), state_->OwnerName(ArgU32(info, 0)));
  }

  // countsFor(id): puts the owner's counts in the scratch array (CountsSlot),
  // from the owner index while it is valid.
  Napi::Value CountsForOwner(const Napi::CallbackInfo& info) { return PutOwnerCounts(info, false); }

  // countsByWalk(id): the same by walking the whole loop (the tests' oracle
  // for the owner index).
  Napi::Value CountsByWalkMethod(const Napi::CallbackInfo& info) { return PutOwnerCounts(info, true); }

  Napi::Value PutOwnerCounts(const Napi::CallbackInfo& info, bool walk) {
    uint32_t id = ArgU32(info, 0);
    state_->ResolveBirths(false);
    Counts c;
    int64_t requests = 0;
    if (id != 0 && state_->ValidOwner(id)) {
      c = walk ? state_->CountsByWalk(id) : state_->CountsFor(id);
      requests = state_->Requests(id);
    }
    PutCounts(Scratch(), c, requests);
    return info.Env().Undefined();
  }

  // ownerIndexState(): { valid, rebuilds } of the owner index (tests).
  Napi::Value OwnerIndexState(const Napi::CallbackInfo& info) {
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("valid", state_->Index().Valid());
    o.Set("rebuilds", static_cast<double>(state_->Index().Rebuilds()));
    return o;
  }

  // countsByOwner(): Float64Array of an OwnerRowField row for every owner
  // with a live handle or request.
  Napi::Value CountsByOwnerMethod(const Napi::CallbackInfo& info) {
    state_->ResolveBirths(false);
    std::vector<Counts> counts(state_->OwnerCount());
    CountsByOwner(*state_, &counts);
    std::vector<double> out;
    for (uint32_t i = 1; i < counts.size(); i++) {
      int64_t requests = state_->Requests(state_->IdOfIndex(i));
      if (counts[i].total == 0 && requests == 0) continue;
      size_t at = out.size();
      out.resize(at + kOwnerRowFields);
      out[at + kOwnerRowIndex] = i;
      PutCounts(&out[at + kOwnerRowCounts], counts[i], requests);
    }
    Napi::Float64Array arr = Napi::Float64Array::New(info.Env(), out.size());
    // Allocation fails while a worker is being terminated: give up quietly.
    if (arr.IsEmpty()) return info.Env().Undefined();
    std::copy(out.begin(), out.end(), arr.Data());
    return arr;
  }

  // stats(): puts the loop's totals in the scratch array (StatsSlot).
  Napi::Value Stats(const Napi::CallbackInfo& info) {
    LoopStats st = StatsOf(state_->loop());
    double* s = Scratch();
    s[kStatHandles] = st.handles.total;
    s[kStatActive] = st.handles.active;
    s[kStatRef] = st.handles.ref;
    s[kStatClosing] = st.handles.closing;
    s[kStatActiveReqs] = st.active_reqs;
    s[kStatAlive] = st.alive ? 1 : 0;
    return info.Env().Undefined();
  }

  // snapshot(withSharedObjects): { records: Float64Array (RecordField),
  // sharedObjects: string[] (the paths records name by index) }
  Napi::Value SnapshotMethod(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    state_->ResolveBirths(false);
    bool with_objects = CallbackFieldsKnown() &&
                        !(info[0].IsBoolean() && !info[0].As<Napi::Boolean>().Value());
    std::vector<double> records;
    Snapshot(state_.get(), &shared_objects_, with_objects, &records);
    Napi::Float64Array arr = Napi::Float64Array::New(env, records.size());
    if (arr.IsEmpty()) return env.Undefined();  // worker being terminated
    std::copy(records.begin(), records.end(), arr.Data());
    // Raw Node-API with every status checked: setting properties fails
    // while a worker is terminated, and node-addon-api's Set would make that
    // failure fatal. Then the snapshot is simply not returned.
    napi_value names, result, name;
    const std::vector<std::string>& paths = shared_objects_.Names();
    if (napi_create_array_with_length(env, paths.size(), &names) != napi_ok ||
        napi_create_object(env, &result) != napi_ok)
      return env.Undefined();
    for (size_t i = 0; i < paths.size(); i++) {
      const std::string& n = paths[i];
      if (napi_create_string_utf8(env, n.data(), n.size(), &name) != napi_ok ||
          napi_set_element(env, names, static_cast<uint32_t>(i), name) != napi_ok)
        return env.Undefined();
    }
    if (napi_set_named_property(env, result, "records", arr) != napi_ok ||
        napi_set_named_property(env, result, "sharedObjects", names) != napi_ok)
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

  // takeMatches(): Float64Array of a MatchField row per matched birth.
  Napi::Value TakeMatches(const Napi::CallbackInfo& info) {
    state_->ResolveBirths(false);
    auto matches = state_->TakeMatches();
    Napi::Float64Array arr = Napi::Float64Array::New(info.Env(), matches.size() * kMatchFields);
    if (arr.IsEmpty()) return info.Env().Undefined();  // worker being terminated
    double* row = arr.Data();
    for (const auto& match : matches) {
      row[kMatchSeq] = static_cast<double>(match.first);
      row[kMatchAddrHi] = AddrHi(match.second);
      row[kMatchAddrLo] = AddrLo(match.second);
      row += kMatchFields;
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

  // watchedCounts(id): puts the counts of the watcher's last recount in the
  // scratch array as countsFor() does (no walk); false if `id` is not
  // watched.
  Napi::Value WatchedCounts(const Napi::CallbackInfo& info) {
    Counts c;
    int64_t requests = 0;
    bool watched = watcher_->LastCounts(ArgU32(info, 0), &c, &requests);
    if (watched) PutCounts(Scratch(), c, requests);
    return Napi::Boolean::New(info.Env(), watched);
  }

  Napi::Value WatchIteration(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(watcher_->Iteration()));
  }

  // paceShare(id, ns): the owner's share of each iteration's budget in ns
  // (a positive number; Infinity stops pacing it). Validated in TypeScript.
  Napi::Value PaceShare(const Napi::CallbackInfo& info) {
    uint32_t id = ArgU32(info, 0);
    double ns = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 0;
    if (id == 0 || !state_->ValidOwner(id) || !(ns > 0)) return ThrowRangeError(info.Env(), "bad pacing share");
    state_->Pacing().SetShare(id, ns >= 1.8e19 ? Pacer::kUnpaced : static_cast<uint64_t>(ns));
    return info.Env().Undefined();
  }

  // paceLeft(id): ns of the owner's share left in this iteration, Infinity when it is not paced.
  Napi::Value PaceLeft(const Napi::CallbackInfo& info) {
    uint64_t left = state_->Pacing().Left(ArgU32(info, 0));
    return Napi::Number::New(info.Env(), left == Pacer::kUnpaced ? INFINITY : static_cast<double>(left));
  }

  // paceIteration(): libuv's loop_count, the iteration as pacing counts them.
  Napi::Value PaceIteration(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(state_->Pacing().Iteration()));
  }

  Napi::Value WatcherHasHandle(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), watcher_->HasHandle());
  }

  // handlePath(addrHi, addrLo): see handle_path.h; undefined when none.
  Napi::Value HandlePathMethod(const Napi::CallbackInfo& info) {
    std::string path = HandlePath(state_->loop(), AddressOf(ArgU32(info, 0), ArgU32(info, 1)));
    return path.empty() ? info.Env().Undefined() : Napi::String::New(info.Env(), path);
  }

  std::unique_ptr<LoopState> state_;
  std::unique_ptr<DrainWatcher> watcher_;
  SharedObjectIndex shared_objects_;
  Napi::Reference<Napi::Float64Array> scratch_;
  double* scratch_data_ = nullptr;
  double scratch_fallback_[kScratchSize] = {};  // if V8 refused the array
};

}  // namespace uvdrain

using UvDrainAddon = uvdrain::Addon;
NODE_API_ADDON(UvDrainAddon)
