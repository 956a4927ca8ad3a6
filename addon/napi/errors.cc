#include "napi/errors.h"

#include <uv.h>

#include <cstring>

namespace ustack::napi {

Napi::Error SystemError(Napi::Env env, int err, const char* syscall, const std::string& subject) {
  char name[64];
  uv_err_name_r(-err, name, sizeof name);
  std::string msg = std::string(name) + ": " + std::strerror(err) + ", " + syscall;
  if (!subject.empty()) msg += " '" + subject + "'";
  Napi::Error e = Napi::Error::New(env, msg);
  Napi::Object o = e.Value();
  o.Set("code", Napi::String::New(env, name));
  o.Set("errno", Napi::Number::New(env, -err));
  o.Set("syscall", Napi::String::New(env, syscall));
  if (!subject.empty()) o.Set("device", Napi::String::New(env, subject));
  return e;
}

void ThrowSystem(Napi::Env env, int err, const char* syscall, const std::string& subject) {
  SystemError(env, err, syscall, subject).ThrowAsJavaScriptException();
}

Napi::Error NodeError(Napi::Env env, const ustack::Error& e, const std::string& subject) {
  if (!e.code.empty()) {
    Napi::Error err = Napi::Error::New(env, e.message.empty() ? std::string(e.syscall) : e.message);
    Napi::Object o = err.Value();
    o.Set("code", Napi::String::New(env, e.code));
    if (e.err != 0) o.Set("errno", Napi::Number::New(env, -e.err));
    o.Set("syscall", Napi::String::New(env, e.syscall));
    o.Set("device", Napi::String::New(env, subject));
    return err;
  }
  Napi::Error err = SystemError(env, e.err, e.syscall, subject);
  if (!e.message.empty()) err.Value().Set("message", Napi::String::New(env, err.Message() + ": " + e.message));
  return err;
}

void ThrowError(Napi::Env env, const ustack::Error& e, const std::string& subject) {
  NodeError(env, e, subject).ThrowAsJavaScriptException();
}

void ThrowCoded(Napi::Env env, bool type_error, const char* code, const std::string& msg) {
  Napi::Error e = type_error ? Napi::TypeError::New(env, msg) : Napi::Error::New(env, msg);
  e.Value().Set("code", Napi::String::New(env, code));
  e.ThrowAsJavaScriptException();
}

void ThrowRange(Napi::Env env, const std::string& msg) {
  Napi::Error e = Napi::RangeError::New(env, msg);
  e.Value().Set("code", Napi::String::New(env, "ERR_OUT_OF_RANGE"));
  e.ThrowAsJavaScriptException();
}

}  // namespace ustack::napi
