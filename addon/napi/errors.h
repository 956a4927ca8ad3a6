// Node-style errors thrown from the N-API wrappers: every one carries `code`
// (a system error also `errno`, negative as libuv and Node report it, and
// `syscall`), so JavaScript can branch on err.code as it does for node's own.
//
// The addon is built with C++ exceptions disabled: each Throw* leaves the
// error pending in JavaScript and the caller returns at once.
#pragma once
#include <napi.h>

#include <string>

#include "common/error.h"

namespace ustack::napi {

// The one conversion of a core module's ustack::Error: with a code, an Error
// with that code and message (errno and syscall when known); without one, a
// SystemError as below, the Error's message appended. `subject` (a device
// name or PCI address) becomes `device`.
Napi::Error NodeError(Napi::Env env, const ustack::Error& e, const std::string& subject);
void ThrowError(Napi::Env env, const ustack::Error& e, const std::string& subject);

// "EBUSY: Device or resource busy, ioctl(TUNSETIFF) 'tap0'" with code, errno,
// syscall and, when `subject` is not empty, device.
Napi::Error SystemError(Napi::Env env, int err, const char* syscall, const std::string& subject);
void ThrowSystem(Napi::Env env, int err, const char* syscall, const std::string& subject);

// An Error (or TypeError) with `code`.
void ThrowCoded(Napi::Env env, bool type_error, const char* code, const std::string& msg);

// A RangeError with code ERR_OUT_OF_RANGE.
void ThrowRange(Napi::Env env, const std::string& msg);

}  // namespace ustack::napi
