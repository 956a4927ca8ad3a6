// The Internet checksum over bytes: see bytes.h.
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

}  // namespace

uint32_t ones_sum(const uint8_t* p, size_t len) { return swap16(sum_le(p, len)); }

}  // namespace ustack::bytes
