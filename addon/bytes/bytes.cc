// The Internet checksum over bytes: see bytes.h.
#include "bytes/bytes.h"

#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace ustack::bytes {

namespace {

#if defined(__SSE2__)
// 64 bytes per iteration in SSE2 (every x86-64 has it): the 32-bit words
// of each 16-byte load are widened to 64-bit lanes (unpacked with zero) and
// added into four 2 x 64-bit accumulators, so no carry is ever lost. About
// 0.3 instructions per byte where the scalar loop below needs 0.6.
// Returns the unfolded sum of p[0, blocks * 64) as native-endian 32-bit words.
uint64_t sum_le_sse2(const uint8_t* p, size_t blocks) {
  const __m128i zero = _mm_setzero_si128();
  __m128i a = zero, b = zero, c = zero, d = zero;
  for (size_t k = 0; k < blocks; k++, p += 64) {
    __m128i w0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m128i w1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16));
    __m128i w2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 32));
    __m128i w3 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 48));
    a = _mm_add_epi64(a, _mm_unpacklo_epi32(w0, zero));
    b = _mm_add_epi64(b, _mm_unpackhi_epi32(w0, zero));
    c = _mm_add_epi64(c, _mm_unpacklo_epi32(w1, zero));
    d = _mm_add_epi64(d, _mm_unpackhi_epi32(w1, zero));
    a = _mm_add_epi64(a, _mm_unpacklo_epi32(w2, zero));
    b = _mm_add_epi64(b, _mm_unpackhi_epi32(w2, zero));
    c = _mm_add_epi64(c, _mm_unpacklo_epi32(w3, zero));
    d = _mm_add_epi64(d, _mm_unpackhi_epi32(w3, zero));
  }
  __m128i s = _mm_add_epi64(_mm_add_epi64(a, b), _mm_add_epi64(c, d));
  uint64_t lanes[2];
  _mm_storeu_si128(reinterpret_cast<__m128i*>(lanes), s);
  return lanes[0] + lanes[1];
}
#endif

// Sums native-endian 32-bit words into 64-bit accumulators (no carries lost
// below 2^32 words), then folds. The one's complement sum is byte-order
// independent (RFC 1071 §2(B)): summing little-endian words and swapping the
// folded result gives the big-endian sum.
uint32_t sum_le(const uint8_t* p, size_t len) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  size_t i = 0;
#if defined(__SSE2__)
  a = sum_le_sse2(p, len / 64);
  i = len & ~size_t{63};
#endif
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
