#include "bytes/bytes.h"

#include <cstring>

namespace ustack::bytes {

namespace {

// Sums native-endian 32-bit words into 64-bit accumulators (no carries lost
// below 2^32 words), then folds. The one's complement sum is byte-order
// independent (RFC 1071 §2(B)): summing little-endian words and swapping the
// folded result gives the big-endian sum.
uint32_t sum_le(const uint8_t* p, size_t len) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  size_t i = 0;
  for (; i + 16 <= len; i += 16) {
    uint32_t w0, w1, w2, w3;
    std::memcpy(&w0, p + i, 4);
    std::memcpy(&w1, p + i + 4, 4);
    std::memcpy(&w2, p + i + 8, 4);
    std::memcpy(&w3, p + i + 12, 4);
    a += w0;
    b += w1;
    c += w2;
    d += w3;
  }
  uint64_t s = a + b + c + d;  // each < 2^60 for any realistic len: no overflow
  for (; i + 2 <= len; i += 2) {
    uint16_t h;
    std::memcpy(&h, p + i, 2);
    s += h;
  }
  if (i < len) s += p[i];  // the odd last byte is the high byte of a big-endian word: low byte here
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint32_t>(s);
}

uint32_t swap16(uint32_t v) { return ((v & 0xff) << 8) | (v >> 8); }

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

// copy(dst, dOff, src, sOff, len) -> 0, or -1 on bad arguments (nothing copied).
napi_value Copy(napi_env env, napi_callback_info info) {
  uint8_t *d, *s;
  size_t n;
  if (!CopyArgs(env, info, &d, &s, &n)) return Int(env, -1);
  std::memmove(d, s, n);
  return Int(env, 0);
}

// copySum(dst, dOff, src, sOff, len) -> onesSum of the copied bytes, or -1.
napi_value CopySum(napi_env env, napi_callback_info info) {
  uint8_t *d, *s;
  size_t n;
  if (!CopyArgs(env, info, &d, &s, &n)) return Int(env, -1);
  std::memmove(d, s, n);
  return Int(env, static_cast<int32_t>(ones_sum(d, n)));
}

// sum(buf, off, len) -> onesSum of buf[off, off + len), or -1.
napi_value Sum(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 3) return Int(env, -1);
  uint8_t* p;
  size_t l, off, len;
  if (!Bytes(env, argv[0], &p, &l) || !Index(env, argv[1], &off) || !Index(env, argv[2], &len)) return Int(env, -1);
  if (off > l || len > l - off) return Int(env, -1);
  return Int(env, static_cast<int32_t>(ones_sum(p + off, len)));
}

}  // namespace

uint32_t ones_sum(const uint8_t* p, size_t len) { return swap16(sum_le(p, len)); }

void Register(Napi::Env env, Napi::Object exports) {
  napi_property_descriptor props[] = {
      {"bytesCopy", nullptr, Copy, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"bytesCopySum", nullptr, CopySum, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"bytesSum", nullptr, Sum, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
}

}  // namespace ustack::bytes
