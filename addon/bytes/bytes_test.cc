// Host unit test for bytes.h (no N-API): ones_sum against a byte-at-a-time
// reference for every length up to 300 at every alignment, long buffers that
// exercise the 16-byte loop's carries, and RFC 1071's worked example. Built
// and run by scripts/test-native.sh; prints "N passed, N failed".
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "bytes/bytes.h"

namespace {

int passed = 0, failed = 0;

void check(bool ok, const char* what, size_t a = 0, size_t b = 0) {
  if (ok) {
    passed++;
  } else {
    failed++;
    std::printf("FAIL: %s (%zu, %zu)\n", what, a, b);
  }
}

// Big-endian 16-bit words, an odd last byte padded with zero, folded.
uint32_t reference(const uint8_t* p, size_t len) {
  uint64_t s = 0;
  for (size_t i = 0; i < len; i++) s += (i % 2 == 0) ? static_cast<uint64_t>(p[i]) << 8 : p[i];
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint32_t>(s);
}

}  // namespace

int main() {
  using ustack::bytes::ones_sum;

  // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
  const uint8_t rfc[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  check(ones_sum(rfc, sizeof rfc) == 0xddf2, "RFC 1071 example");
  check(ones_sum(rfc, 0) == 0, "empty range");

  std::vector<uint8_t> buf(4096 + 16);
  uint32_t seed = 12345;
  for (auto& b : buf) {
    seed = seed * 1103515245u + 12345u;
    b = static_cast<uint8_t>(seed >> 16);
  }
  for (size_t align = 0; align < 8; align++) {
    for (size_t len = 0; len <= 300; len++) {
      check(ones_sum(buf.data() + align, len) == reference(buf.data() + align, len), "random bytes", align, len);
    }
  }
  // All ones: every word 0xffff, the worst case for carries.
  std::vector<uint8_t> ones(65536 + 1, 0xff);
  for (size_t len : {size_t{16}, size_t{1500}, size_t{65535}, size_t{65536}, size_t{65537}}) {
    check(ones_sum(ones.data(), len) == reference(ones.data(), len), "0xff bytes", len);
  }
  check(ones_sum(buf.data(), 4096) == reference(buf.data(), 4096), "4 KiB");

  std::printf("bytes: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
