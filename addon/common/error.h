// The one error type of the addon's core modules (tap, pci, dma, e1000):
// plain C++, no N-API. A core function returns 0 (or a non-negative value)
// on success and -errno on failure, and fills an Error saying which call
// failed and, for causes a user can fix, a ustack code and a sentence on
// what to do. addon/napi/errors.h turns it into a Node-style error.
#pragma once
#include <string>
#include <utility>

namespace ustack {

struct Error {
  const char* syscall = "";  // the call that failed, e.g. "ioctl(TUNSETIFF)"
  int err = 0;               // errno (positive); 0 when there is none
  std::string code;          // a Node-style code (ERR_USTACK_..., EBUSY) when the cause is known, else empty
  std::string message;       // a human explanation, may be empty
};

// Records a failure in *e (when e is not null) and returns -err, so a core
// function can end with `return fail(err, "open", errno);`.
inline int fail(Error* e, const char* syscall, int err, std::string code = "", std::string message = "") {
  if (e != nullptr) {
    e->syscall = syscall;
    e->err = err;
    e->code = std::move(code);
    e->message = std::move(message);
  }
  return -err;
}

}  // namespace ustack
