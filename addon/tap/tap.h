// TAP backend: plain POSIX, no N-API types here.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace ustack::tap {

// Opens (creating if needed) the TAP device `name`. Returns fd >= 0 or -errno.
int open_tap(const std::string& name, std::string* actual_name);

}  // namespace ustack::tap
