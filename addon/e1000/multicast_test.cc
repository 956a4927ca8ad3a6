// Unit tests for addon/e1000/multicast.h: the MTA hash against addresses
// worked by hand from the 8254x manual's rule (bits 47:36 with RCTL.MO = 00)
// and a table built from them. Prints "N passed, N failed".
#include <cstdio>
#include <cstring>

#include "common/test_check.h"
#include "e1000/multicast.h"

namespace e = ustack::e1000;

static void test_hash() {
  // IPv6 all-nodes 33:33:00:00:00:01: byte 5 = 0x01, byte 4's high nibble 0 -> 0x010.
  const uint8_t all_nodes[6] = {0x33, 0x33, 0x00, 0x00, 0x00, 0x01};
  CHECK(e::mta_hash(all_nodes) == 0x010);
  // Solicited-node group of ...:12:3456 -> 33:33:ff:12:34:56: 0x56 << 4 | 0x3 = 0x563.
  const uint8_t sn[6] = {0x33, 0x33, 0xff, 0x12, 0x34, 0x56};
  CHECK(e::mta_hash(sn) == 0x563);
  // All bits of byte 5 and the high nibble of byte 4 used; byte 4's low nibble ignored.
  const uint8_t hi[6] = {0x01, 0x00, 0x5e, 0x7f, 0xff, 0xff};
  CHECK(e::mta_hash(hi) == 0xfff);
  const uint8_t lo_nibble[6] = {0x01, 0x00, 0x5e, 0x7f, 0x0f, 0x00};
  CHECK(e::mta_hash(lo_nibble) == 0);
}

static void test_table() {
  const uint8_t macs[12] = {0x33, 0x33, 0x00, 0x00, 0x00, 0x01, 0x33, 0x33, 0xff, 0x12, 0x34, 0x56};
  uint32_t t[e::kMtaRegisters];
  std::memset(t, 0xab, sizeof t);
  e::mta_table(macs, 2, t);
  // 0x010 -> register 0, bit 16; 0x563 -> register 43, bit 3.
  CHECK(t[0] == (1u << 16));
  CHECK(t[43] == (1u << 3));
  int set = 0;
  for (uint32_t i = 0; i < e::kMtaRegisters; i++) set += __builtin_popcount(t[i]);
  CHECK(set == 2);
  e::mta_table(macs, 0, t);
  bool empty = true;
  for (uint32_t i = 0; i < e::kMtaRegisters; i++) empty = empty && t[i] == 0;
  CHECK(empty);
}

int main() {
  test_hash();
  test_table();
  std::printf("e1000 multicast: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
