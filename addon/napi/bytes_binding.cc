// The byte kernels: see bytes_binding.h.
#include "napi/bytes_binding.h"

#include <cstring>

#include "bytes/bytes.h"

namespace ustack::napi {

namespace {

// A Uint8Array (or Buffer) argument: its bytes, already offset by byteOffset.
bool Bytes(napi_env env, napi_value v, uint8_t** data, size_t* len) {
  napi_typedarray_type type;
  size_t length;
  void* ptr;
  if (napi_get_typedarray_info(env, v, &type, &length, &ptr, nullptr, nullptr) != napi_ok) return false;
  if (type != napi_uint8_array && type != napi_int8_array && type != napi_uint8_clamped_array) return false;
  *data = static_cast<uint8_t*>(ptr);
  *len = length;
  return true;
}

bool Index(napi_env env, napi_value v, size_t* out) {
  int64_t x;
  if (napi_get_value_int64(env, v, &x) != napi_ok || x < 0) return false;
  *out = static_cast<size_t>(x);
  return true;
}

napi_value Int(napi_env env, int32_t v) {
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

// The ranges of (dst, dOff, src, sOff, len), bounds-checked: the JavaScript
// side checks too, but nothing here may ever touch memory outside the views.
bool CopyArgs(napi_env env, napi_callback_info info, uint8_t** d, uint8_t** s, size_t* n) {
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 5) return false;
  uint8_t *dst, *src;
  size_t dl, sl, dOff, sOff, len;
  if (!Bytes(env, argv[0], &dst, &dl) || !Index(env, argv[1], &dOff) || !Bytes(env, argv[2], &src, &sl) ||
      !Index(env, argv[3], &sOff) || !Index(env, argv[4], &len))
    return false;
  if (dOff > dl || len > dl - dOff || sOff > sl || len > sl - sOff) return false;
  *d = dst + dOff;
  *s = src + sOff;
  *n = len;
  return true;
}

// A Uint32Array or Int32Array argument: its elements, already offset by byteOffset.
bool Words(napi_env env, napi_value v, napi_typedarray_type want, void** data, size_t* len) {
  napi_typedarray_type type;
  size_t length;
  void* ptr;
  if (napi_get_typedarray_info(env, v, &type, &length, &ptr, nullptr, nullptr) != napi_ok || type != want) return false;
  *data = ptr;
  *len = length;
  return true;
}

// bytesCopySumScatter copies at most this many chunks (its offsets are copied
// to the stack first); a larger count is refused (-1) and the caller copies
// chunk by chunk. A 64 KiB segment in chunks of 64 bytes is 1,024.
constexpr size_t kMaxScatterChunks = 2048;

}  // namespace

// bytesCopySumScatter(dst, dOffs, count, src, sOff, unit, total, sums) -> 0,
// or -1 with nothing done: chunk k of src[sOff, sOff + total) (unit bytes,
// the last one the rest) copied to dst[dOffs[k]...] and its one's complement
// sum written to sums[k], for k < count (at most kMaxScatterChunks). Every
// range is checked, on a copy of the offsets, before anything is copied.
napi_value BytesCopySumScatter(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 8) return Int(env, -1);
  uint8_t *dst, *src;
  void *offsV, *sumsV;
  size_t dl, sl, offsLen, sumsLen, count, sOff, unit, total;
  if (!Bytes(env, argv[0], &dst, &dl) || !Words(env, argv[1], napi_uint32_array, &offsV, &offsLen) ||
      !Index(env, argv[2], &count) || !Bytes(env, argv[3], &src, &sl) || !Index(env, argv[4], &sOff) ||
      !Index(env, argv[5], &unit) || !Index(env, argv[6], &total) ||
      !Words(env, argv[7], napi_int32_array, &sumsV, &sumsLen))
    return Int(env, -1);
  int32_t* sums = static_cast<int32_t*>(sumsV);
  // count chunks of unit bytes cover [0, total): the first count - 1 whole, the last not empty.
  if (count == 0 || count > kMaxScatterChunks || unit == 0 || count > offsLen || count > sumsLen || sOff > sl ||
      total > sl - sOff)
    return Int(env, -1);
  // The offsets are read from JavaScript memory once: a Uint32Array over a
  // SharedArrayBuffer can change under us, so the copy is what is checked and used.
  uint32_t offs[kMaxScatterChunks];
  std::memcpy(offs, offsV, count * sizeof(uint32_t));
  // (count - 1) * unit <= total first, so that product cannot overflow.
  if (count - 1 > total / unit || total <= (count - 1) * unit || total - (count - 1) * unit > unit) return Int(env, -1);
  for (size_t k = 0; k < count; k++) {
    const size_t n = k + 1 < count ? unit : total - k * unit;
    if (offs[k] > dl || n > dl - offs[k]) return Int(env, -1);
  }
  for (size_t k = 0; k < count; k++) {
    const size_t n = k + 1 < count ? unit : total - k * unit;
    uint8_t* d = dst + offs[k];
    std::memmove(d, src + sOff + k * unit, n);
    sums[k] = static_cast<int32_t>(ustack::bytes::ones_sum(d, n));
  }
  return Int(env, 0);
}

// bytesCopy(dst, dOff, src, sOff, len) -> 0, or -1 on bad arguments (nothing copied).
napi_value BytesCopy(napi_env env, napi_callback_info info) {
  uint8_t *d, *s;
  size_t n;
  if (!CopyArgs(env, info, &d, &s, &n)) return Int(env, -1);
  std::memmove(d, s, n);
  return Int(env, 0);
}

// bytesCopySum(dst, dOff, src, sOff, len) -> onesSum of the copied bytes, or -1.
napi_value BytesCopySum(napi_env env, napi_callback_info info) {
  uint8_t *d, *s;
  size_t n;
  if (!CopyArgs(env, info, &d, &s, &n)) return Int(env, -1);
  std::memmove(d, s, n);
  return Int(env, static_cast<int32_t>(ustack::bytes::ones_sum(d, n)));
}

// bytesSum(buf, off, len) -> onesSum of buf[off, off + len), or -1.
napi_value BytesSum(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 3) return Int(env, -1);
  uint8_t* p;
  size_t l, off, len;
  if (!Bytes(env, argv[0], &p, &l) || !Index(env, argv[1], &off) || !Index(env, argv[2], &len)) return Int(env, -1);
  if (off > l || len > l - off) return Int(env, -1);
  return Int(env, static_cast<int32_t>(ustack::bytes::ones_sum(p + off, len)));
}

}  // namespace ustack::napi
