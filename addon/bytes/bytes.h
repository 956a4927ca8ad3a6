// The Internet checksum (RFC 1071) at memory speed, for the byte kernels of
// the JavaScript data path (napi/bytes_binding.h). Plain C++, no N-API; a
// pure function of its arguments (bytes_test.cc checks it).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ustack::bytes {

// Folded, uncomplemented one's complement sum of p[0, len) taken as
// big-endian 16-bit words (an odd trailing byte padded with zero): the value
// onesSum() in src/wire/checksum.ts returns with initial 0.
uint32_t ones_sum(const uint8_t* p, size_t len);

}  // namespace ustack::bytes
