// The 8254x multicast table array (MTA): 128 32-bit registers, 4,096 bits.
// A multicast frame passes the receive filter when the bit its destination
// address hashes to is set (RCTL.MO = 00: address bits 47:36, i.e. the high
// nibble of byte 4 and all of byte 5; Intel's 8254x manual §13.5.1, QEMU's
// e1000x_rx_group_filter). A hash picks groups the stack did not join too:
// the interface still filters every frame by its full address in software.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ustack::e1000 {

constexpr uint32_t kMtaRegisters = 128;

// The 12-bit MTA index of a 6-byte destination address (MO = 00).
inline uint32_t mta_hash(const uint8_t* mac) { return ((mac[4] >> 4) | (static_cast<uint32_t>(mac[5]) << 4)) & 0xfff; }

// The table that accepts exactly the hash buckets of `n` addresses (6 bytes each).
inline void mta_table(const uint8_t* macs, size_t n, uint32_t table[kMtaRegisters]) {
  for (uint32_t i = 0; i < kMtaRegisters; i++) table[i] = 0;
  for (size_t k = 0; k < n; k++) {
    uint32_t h = mta_hash(macs + 6 * k);
    table[h >> 5] |= 1u << (h & 31);
  }
}

}  // namespace ustack::e1000
