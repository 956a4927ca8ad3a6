// virtio_net_hdr building and reading. See vnet_hdr.h.
#include "vnet_hdr/vnet_hdr.h"

#include "bytes/bytes.h"

namespace ustack::vnet {

namespace {

constexpr uint32_t kEth = 14;
constexpr uint32_t kIp6 = 40;

// tx_header for an IPv6 frame (ethertype 86dd, len >= kEth + kIp6): TCP
// right after the fixed header only.
Hdr tx_header6(const uint8_t* f, uint32_t len, const TxCaps& caps) {
  Hdr h;
  const uint8_t* ip = f + kEth;
  if ((ip[0] >> 4) != 6 || ip[6] != 6) return h;
  uint32_t l4 = kEth + kIp6;
  if (len < l4 + 20) return h;
  uint32_t l4_len = be16(ip + 4);
  if (l4_len < 20 || l4 + l4_len > len) return h;
  if (be16(f + l4 + 16) != pseudo_sum6(ip, 6, l4_len)) return h;  // already complete
  h.flags = kFlagNeedsCsum;
  h.csum_start = static_cast<uint16_t>(l4);
  h.csum_offset = 16;
  if (!caps.tso6 || len <= caps.mtu + kEth) return h;
  uint32_t thl = (f[l4 + 12] >> 4) * 4u;
  if (thl < 20 || kIp6 + thl >= caps.mtu || thl > l4_len) return h;
  bool cwr = (f[l4 + 13] & 0x80) != 0;
  h.gso_type = static_cast<uint8_t>(kGsoTcpv6 | (cwr && caps.ecn ? kGsoEcn : 0));
  h.hdr_len = static_cast<uint16_t>(l4 + thl);
  h.gso_size = static_cast<uint16_t>(caps.mtu - kIp6 - thl);
  return h;
}

}  // namespace

Hdr tx_header(const uint8_t* f, uint32_t len, const TxCaps& caps) {
  Hdr h;
  if (!caps.csum) return h;
  if (len >= kEth + kIp6 && f[12] == 0x86 && f[13] == 0xdd) return tx_header6(f, len, caps);
  if (len < kEth + 20 || f[12] != 0x08 || f[13] != 0x00 || (f[kEth] >> 4) != 4) return h;
  const uint8_t* ip = f + kEth;
  uint32_t ihl = (ip[0] & 0x0fu) * 4;
  if (ihl < 20 || ((ip[6] & 0x3f) | ip[7]) != 0) return h;  // fragments carry complete checksums
  uint8_t proto = ip[9];
  uint32_t l4 = kEth + ihl;
  uint32_t csum_off = proto == 6 ? 16 : proto == 17 ? 6 : 0;
  if (csum_off == 0 || len < l4 + (proto == 6 ? 20u : 8u)) return h;
  uint32_t total = be16(ip + 2);
  if (total < ihl) return h;
  uint32_t l4_len = total - ihl;
  if (be16(f + l4 + csum_off) != pseudo_sum(ip, proto, l4_len)) return h;  // already complete (or none)
  h.flags = kFlagNeedsCsum;
  h.csum_start = static_cast<uint16_t>(l4);
  h.csum_offset = static_cast<uint16_t>(csum_off);
  if (proto != 6 || !caps.tso4 || len <= caps.mtu + kEth) return h;
  uint32_t thl = (f[l4 + 12] >> 4) * 4u;
  if (thl < 20 || ihl + thl >= caps.mtu || l4 + thl > len) return h;
  bool cwr = (f[l4 + 13] & 0x80) != 0;
  h.gso_type = static_cast<uint8_t>(kGsoTcpv4 | (cwr && caps.ecn ? kGsoEcn : 0));
  h.hdr_len = static_cast<uint16_t>(l4 + thl);
  h.gso_size = static_cast<uint16_t>(caps.mtu - ihl - thl);
  return h;
}

uint32_t l3_end(const uint8_t* f, uint32_t len) {
  if (len >= kEth + 20 && f[12] == 0x08 && f[13] == 0x00) {
    uint32_t end = kEth + be16(f + 16);
    if (end < len) return end;
  }
  return len;
}

uint8_t rx_checksum(const Hdr& h, uint8_t* f, uint32_t len, bool complete, RxCsum* what) {
  RxCsum w = RxCsum::kNone;
  uint8_t flag = 0;
  if (h.flags & kFlagNeedsCsum) {
    // The field at csum_start + csum_offset holds the pseudo-header sum:
    // summing from csum_start to the end of the packet completes it.
    uint32_t end = l3_end(f, len);
    uint32_t start = h.csum_start, at = start + h.csum_offset;
    if (start >= end || at + 2 > end) {
      w = RxCsum::kMalformed;  // the stack finds the pseudo-header sum wrong and drops it
    } else if (!complete) {
      w = RxCsum::kPartial;
      flag = kRxFlagCsumVerified;
    } else {
      uint16_t c = static_cast<uint16_t>(~bytes::ones_sum(f + start, end - start));
      if (c == 0 && h.csum_offset == 6) c = 0xffff;  // UDP: 0 means "no checksum"
      f[at] = static_cast<uint8_t>(c >> 8);
      f[at + 1] = static_cast<uint8_t>(c);
      w = RxCsum::kCompleted;
    }
  } else if (h.flags & kFlagDataValid) {
    w = RxCsum::kValid;
    if (!complete) flag = kRxFlagCsumVerified;
  }
  if (what != nullptr) *what = w;
  return flag;
}

}  // namespace ustack::vnet
