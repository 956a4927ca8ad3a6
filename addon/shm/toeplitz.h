// The Toeplitz hash NICs compute for receive-side scaling (RSS), with the
// key every RSS implementation ships as its default: Microsoft's 40-byte
// verification key (Intel's 82599 datasheet §7.1.2.8, DPDK, Linux drivers
// that take no user key). Software steering (owner.h) hashes a frame exactly
// as such a NIC would, so a worker can choose local ports whose replies hash
// back to it (owner.h steers_to) on a NIC that does the steering itself,
// and the same indirection table means the same thing in both places.
//
// Input order as the RSS specification defines it: source address,
// destination address, then (for the 4-tuple hash) source port, destination
// port, all in network byte order as they lie in the packet.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ustack::shm {

constexpr size_t kRssKeyLen = 40;
extern const uint8_t kMicrosoftRssKey[kRssKeyLen];

// The bitwise definition: for each input bit set, from the most significant
// bit of data[0] on, XOR the 32 key bits starting at that bit position.
// `n` at most kRssKeyLen - 4 bytes.
uint32_t toeplitz(const uint8_t* key, const uint8_t* data, size_t n);

// The same hash over the 12-byte IPv4 4-tuple input, by table: one 256-entry
// table per input byte (12 lookups and XORs per frame).
class Toeplitz12 {
 public:
  explicit Toeplitz12(const uint8_t* key = kMicrosoftRssKey);
  // Addresses and ports as host-order numbers (the values, not the bytes).
  uint32_t ipv4_l4(uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport) const;
  // The 2-tuple (addresses only) hash: fragments and protocols without ports.
  uint32_t ipv4(uint32_t saddr, uint32_t daddr) const;

 private:
  uint32_t t_[12][256];
};

}  // namespace ustack::shm
