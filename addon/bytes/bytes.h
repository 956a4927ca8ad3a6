// Byte kernels for the JavaScript data path: memcpy and the Internet
// checksum (RFC 1071) over Uint8Array ranges, plus both fused. JavaScript
// moves packet-sized ranges at 2-3 GB/s with a word loop (TypedArray.set is
// memcpy but allocates a view per call); one call here costs ~30 ns and then
// runs at memory speed. Pure functions of their arguments; see bytes.cc.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace ustack::bytes {

// Folded, uncomplemented one's complement sum of p[0, len) taken as
// big-endian 16-bit words (an odd trailing byte padded with zero): the value
// onesSum() in src/stack/wire/checksum.ts returns with initial 0.
uint32_t ones_sum(const uint8_t* p, size_t len);

void Register(Napi::Env env, Napi::Object exports);

}  // namespace ustack::bytes
