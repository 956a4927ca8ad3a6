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

}  // namespace

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
