// Byte kernels for the JavaScript data path: memcpy and the Internet
// checksum (RFC 1071) over Uint8Array ranges, plus both fused. JavaScript
// moves packet-sized ranges at 2-3 GB/s with a word loop (TypedArray.set is
// memcpy but allocates a view per call); one call here costs ~30 ns and then
// runs at memory speed. Raw N-API callbacks: node-addon-api's per-call
// wrapper would cost more than a small copy. Bad arguments or ranges outside
// the views return -1 with nothing done (src/driver/addon.ts).
#pragma once
#include <napi.h>

namespace ustack::napi {

// bytesCopy(dst, dOff, src, sOff, len) -> 0, or -1.
napi_value BytesCopy(napi_env env, napi_callback_info info);
// bytesCopySum(dst, dOff, src, sOff, len) -> one's complement sum of the copied bytes, or -1.
napi_value BytesCopySum(napi_env env, napi_callback_info info);
// bytesCopySumScatter(dst, dOffs, count, src, sOff, unit, total, sums) -> 0, or -1:
// src[sOff, sOff + total) cut into count chunks of unit bytes (the last the
// rest), chunk k copied to dst[dOffs[k]...] and its sum written to sums[k]
// (software segmentation: one call per burst of frames instead of one per frame);
// at most 2,048 chunks, the offsets read once into a copy that is checked and used.
napi_value BytesCopySumScatter(napi_env env, napi_callback_info info);
// bytesSum(buf, off, len) -> one's complement sum of buf[off, off + len), or -1.
napi_value BytesSum(napi_env env, napi_callback_info info);

// A property for a raw callback, read-only like node's own bindings (napi_default).
inline Napi::PropertyDescriptor RawMethod(const char* name, napi_callback cb) {
  return Napi::PropertyDescriptor(napi_property_descriptor{name, nullptr, cb, nullptr, nullptr, nullptr, napi_default, nullptr});
}

}  // namespace ustack::napi
