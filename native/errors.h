// The binding's one error vocabulary: every error it throws is made here
// (an Error with a `code`, a TypeError or RangeError with Node's argument
// codes) and so is the one argument check that throws.
//
// Properties go on an error before it is thrown: Node-API calls fail while an
// exception is pending. So an error with more than its code is made with
// CodedError(), given its properties, then thrown with Throw().
#ifndef UV_DRAIN_ERRORS_H
#define UV_DRAIN_ERRORS_H

#include <napi.h>

#include <string>

namespace uvdrain {

// `e` with `code` set.
template <class E>
inline E WithCode(E e, const char* code) {
  e.Set("code", Napi::String::New(e.Env(), code));
  return e;
}

// An Error with `code`, not thrown yet.
inline Napi::Error CodedError(Napi::Env env, const std::string& code, const std::string& message) {
  return WithCode(Napi::Error::New(env, message), code.c_str());
}

// Throws `e`; returns undefined for the method to return.
inline Napi::Value Throw(const Napi::Error& e) {
  e.ThrowAsJavaScriptException();
  return e.Env().Undefined();
}

inline Napi::Value ThrowCoded(Napi::Env env, const std::string& code, const std::string& message) {
  return Throw(CodedError(env, code, message));
}

// An argument of the wrong type: TypeError, code ERR_INVALID_ARG_TYPE.
inline Napi::Value ThrowTypeError(Napi::Env env, const std::string& message) {
  return Throw(WithCode(Napi::TypeError::New(env, message), "ERR_INVALID_ARG_TYPE"));
}

// An argument of the right type and a value that is not allowed: RangeError,
// code ERR_INVALID_ARG_VALUE.
inline Napi::Value ThrowRangeError(Napi::Env env, const std::string& message) {
  return Throw(WithCode(Napi::RangeError::New(env, message), "ERR_INVALID_ARG_VALUE"));
}

// Argument i as a non-empty string without NUL (a path, a symbol prefix), in
// *out; false with a TypeError pending. `what` names the argument.
inline bool StringArg(const Napi::CallbackInfo& info, size_t i, const char* what, std::string* out) {
  if (!info[i].IsString()) {
    ThrowTypeError(info.Env(), std::string("The \"") + what + "\" argument must be a string");
    return false;
  }
  *out = info[i].As<Napi::String>().Utf8Value();
  if (out->empty() || out->find('\0') != std::string::npos) {
    ThrowTypeError(info.Env(), std::string("The \"") + what + "\" argument must be a non-empty string without NUL");
    return false;
  }
  return true;
}

}  // namespace uvdrain

#endif
