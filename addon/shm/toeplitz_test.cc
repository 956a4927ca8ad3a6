// The Toeplitz hash against the test vectors of Microsoft's RSS
// specification ("Verifying the RSS Hash Calculation", also the Intel 82599
// datasheet's verification suite): with the standard key, five IPv4 flows'
// 2-tuple and 4-tuple hashes. Both the bitwise definition and the table
// form, and the table form against the definition on random inputs.
#include <cstdint>
#include <cstdio>
#include <random>

#include "common/test_check.h"
#include "shm/toeplitz.h"

using namespace ustack::shm;

namespace {

uint32_t ip(int a, int b, int c, int d) {
  return (static_cast<uint32_t>(a) << 24) | (static_cast<uint32_t>(b) << 16) | (static_cast<uint32_t>(c) << 8) | static_cast<uint32_t>(d);
}

struct Vector {
  uint32_t dst;
  uint16_t dport;
  uint32_t src;
  uint16_t sport;
  uint32_t ipv4, ipv4_tcp;
};

const Vector kVectors[] = {
    {ip(161, 142, 100, 80), 1766, ip(66, 9, 149, 187), 2794, 0x323e8fc2, 0x51ccc178},
    {ip(65, 69, 140, 83), 4739, ip(199, 92, 111, 2), 14230, 0xd718262a, 0xc626b0ea},
    {ip(12, 22, 207, 184), 38024, ip(24, 19, 198, 95), 12898, 0xd2d0a5de, 0x5c2b394a},
    {ip(209, 142, 163, 6), 2217, ip(38, 27, 205, 30), 48228, 0x82989176, 0xafc7327f},
    {ip(202, 188, 127, 2), 1303, ip(153, 39, 163, 191), 44251, 0x5d1809c5, 0x10e828a2},
};

void put32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

void test_microsoft_vectors() {
  Toeplitz12 t;
  for (const Vector& v : kVectors) {
    uint8_t in[12];
    put32(in, v.src);
    put32(in + 4, v.dst);
    in[8] = static_cast<uint8_t>(v.sport >> 8);
    in[9] = static_cast<uint8_t>(v.sport);
    in[10] = static_cast<uint8_t>(v.dport >> 8);
    in[11] = static_cast<uint8_t>(v.dport);
    CHECK(toeplitz(kMicrosoftRssKey, in, 8) == v.ipv4);
    CHECK(toeplitz(kMicrosoftRssKey, in, 12) == v.ipv4_tcp);
    CHECK(t.ipv4(v.src, v.dst) == v.ipv4);
    CHECK(t.ipv4_l4(v.src, v.dst, v.sport, v.dport) == v.ipv4_tcp);
  }
}

void test_table_matches_definition() {
  Toeplitz12 t;
  std::mt19937 rng(1234);
  int bad = 0;
  for (int i = 0; i < 20000; i++) {
    uint32_t s = rng(), d = rng();
    uint16_t sp = static_cast<uint16_t>(rng()), dp = static_cast<uint16_t>(rng());
    uint8_t in[12];
    put32(in, s);
    put32(in + 4, d);
    in[8] = static_cast<uint8_t>(sp >> 8);
    in[9] = static_cast<uint8_t>(sp);
    in[10] = static_cast<uint8_t>(dp >> 8);
    in[11] = static_cast<uint8_t>(dp);
    if (t.ipv4_l4(s, d, sp, dp) != toeplitz(kMicrosoftRssKey, in, 12)) bad++;
  }
  CHECK(bad == 0);
}

// The hash spreads: 4,096 ports to one peer land in every one of the 128
// buckets, none with more than three times its share.
void test_buckets_spread() {
  Toeplitz12 t;
  int count[128] = {};
  for (uint32_t p = 40000; p < 44096; p++) count[t.ipv4_l4(ip(10, 0, 0, 1), ip(10, 0, 0, 2), static_cast<uint16_t>(p), 7) & 127]++;
  int lo = 1 << 30, hi = 0;
  for (int c : count) {
    lo = c < lo ? c : lo;
    hi = c > hi ? c : hi;
  }
  CHECK(lo > 0);
  CHECK(hi <= 3 * 4096 / 128);
}

}  // namespace

int main() {
  test_microsoft_vectors();
  test_table_matches_definition();
  test_buckets_spread();
  std::printf("toeplitz: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
