// The one "not permitted" error of the AF_XDP port: what to grant, whichever
// call (socket, UMEM registration, map, program, link) said EPERM/EACCES.
#pragma once
#include <cerrno>

#include "common/error.h"

namespace ustack::xdp {

inline bool is_permission(int e) { return e == EPERM || e == EACCES; }

inline int permission_error(Error* err, const char* syscall, int e) {
  return fail(err, syscall, e, "ERR_USTACK_NO_PERMISSION",
              "AF_XDP needs CAP_NET_ADMIN, CAP_BPF (or CAP_SYS_ADMIN) and CAP_NET_RAW: run as root or grant them");
}

}  // namespace ustack::xdp
