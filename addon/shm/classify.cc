#include "shm/classify.h"

namespace ustack::shm {

namespace {
constexpr uint32_t kEthHdr = 14;
constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherArp = 0x0806;

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
uint32_t be32(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) | (static_cast<uint32_t>(p[2]) << 8) | p[3];
}

// An IPv4 header at ip (avail bytes from there): its header length, or 0 if
// it is not one.
uint32_t ipv4_header_len(const uint8_t* ip, uint32_t avail) {
  if (avail < 20 || (ip[0] >> 4) != 4) return 0;
  uint32_t ihl = (ip[0] & 0x0f) * 4u;
  if (ihl < 20 || ihl > avail) return 0;
  return ihl;
}

bool fragment(const uint8_t* ip) { return (be16(ip + 6) & 0x3fff) != 0; }  // MF or an offset

bool has_ports(uint8_t proto) { return proto == kProtoTcp || proto == kProtoUdp; }
}  // namespace

FrameInfo classify(const uint8_t* f, uint32_t len) {
  FrameInfo out;
  if (len < kEthHdr) return out;
  uint16_t type = be16(f + 12);
  if (type == kEtherArp) {
    out.kind = Kind::kArp;
    return out;
  }
  if (type != kEtherIpv4) {
    out.kind = Kind::kNotIpv4;
    return out;
  }
  const uint8_t* ip = f + kEthHdr;
  uint32_t avail = len - kEthHdr;
  uint32_t ihl = ipv4_header_len(ip, avail);
  if (ihl == 0) return out;
  out.proto = ip[9];
  out.saddr = be32(ip + 12);
  out.daddr = be32(ip + 16);
  const uint8_t* l4 = ip + ihl;
  uint32_t l4avail = avail - ihl;
  if (fragment(ip)) {
    out.kind = Kind::kAddrOnly;
    return out;
  }
  if (has_ports(out.proto)) {
    if (l4avail < 4 || (out.proto == kProtoTcp && l4avail < 14)) {
      out.kind = Kind::kMalformed;
      return out;
    }
    out.kind = Kind::kFlow;
    out.sport = be16(l4);
    out.dport = be16(l4 + 2);
    if (out.proto == kProtoTcp) out.syn = (l4[13] & 0x12) == 0x02;
    return out;
  }
  if (out.proto != kProtoIcmp) {
    out.kind = Kind::kAddrOnly;
    return out;
  }
  if (l4avail < 8) {
    out.kind = Kind::kMalformed;
    return out;
  }
  uint8_t icmp_type = l4[0];
  // Destination unreachable, source quench, time exceeded, parameter problem
  // quote the offending header: steer to whoever owns that flow.
  bool error = icmp_type == 3 || icmp_type == 4 || icmp_type == 11 || icmp_type == 12;
  if (error) {
    const uint8_t* inner = l4 + 8;
    uint32_t inner_avail = l4avail - 8;
    uint32_t inner_ihl = ipv4_header_len(inner, inner_avail);
    if (inner_ihl != 0 && has_ports(inner[9]) && !fragment(inner) && inner_avail - inner_ihl >= 4) {
      // The quoted segment went out from us: its source is ours.
      out.kind = Kind::kIcmpError;
      out.proto = inner[9];
      out.saddr = be32(inner + 16);
      out.daddr = be32(inner + 12);
      out.sport = be16(inner + inner_ihl + 2);
      out.dport = be16(inner + inner_ihl);
      return out;
    }
  }
  out.kind = Kind::kIcmp;
  out.proto = kProtoIcmp;
  return out;
}

}  // namespace ustack::shm
