// What software steering needs to know of a received frame, read from its
// first bytes as a NIC's RSS parser would: the Ethernet type, and for IPv4
// the addresses, protocol and ports. Pure and bounded: every read is checked
// against the frame's length, so arbitrary bytes are classified, never read
// past (classify_test.cc feeds it every truncation and random frames).
#pragma once
#include <cstdint>

namespace ustack::shm {

enum class Kind : uint8_t {
  kArp,        // answered in one place: the owner
  kFlow,       // IPv4 TCP or UDP, not fragmented: the 4-tuple hash
  kAddrOnly,   // IPv4 fragment or a protocol without ports: the 2-tuple hash (as RSS does)
  kIcmpError,  // ICMP error quoting one of our segments: the quoted flow, turned round
  kIcmp,       // other ICMP (echo): one designated worker
  kNotIpv4,    // anything else (IPv6, VLAN tags, unknown types): dropped, counted
  kMalformed,  // too short or a bad IPv4 header: dropped, counted
};

constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;

struct FrameInfo {
  Kind kind = Kind::kMalformed;
  uint8_t proto = 0;
  // Receive direction: s = the remote side (the frame's source), d = ours.
  // For kIcmpError the quoted segment's flow, turned round to this direction.
  uint32_t saddr = 0, daddr = 0;
  uint16_t sport = 0, dport = 0;
  bool syn = false;  // TCP with SYN set and ACK clear: a new connection
};

FrameInfo classify(const uint8_t* frame, uint32_t len);

}  // namespace ustack::shm
