// Unit tests for addon/vnet_hdr (the virtio_net_hdr the TAP backend and the
// virtio-net driver share): the header's byte layout, the transmit header
// for frames as the stack writes them (checksum offload, GSO_TCPV4, ECN,
// what gets no header), receive flags and the completion of partial
// checksums (checked against a full one's complement sum), and arbitrary
// bytes never read outside the frame. Built and run by
// scripts/test-native.sh; prints "N passed, N failed".
#include <cstdint>
#include <cstring>
#include <vector>

#include "bytes/bytes.h"
#include "common/test_check.h"
#include "vnet_hdr/vnet_hdr.h"

namespace v = ustack::vnet;

namespace {

void put16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// An Ethernet + IPv4 + TCP/UDP frame with `payload` bytes and the
// pseudo-header sum in the checksum field, as the stack writes it for the NIC.
std::vector<uint8_t> frame(uint8_t proto, uint32_t payload, uint32_t tcp_opts = 0, uint8_t tcp_flags = 0x18) {
  uint32_t l4h = proto == 6 ? 20 + tcp_opts : 8;
  uint32_t ip_len = 20 + l4h + payload;
  std::vector<uint8_t> f(14 + ip_len, 0);
  f[12] = 0x08;
  uint8_t* ip = f.data() + 14;
  ip[0] = 0x45;
  put16(ip + 2, ip_len);
  ip[8] = 64;
  ip[9] = proto;
  ip[12] = 10, ip[13] = 0, ip[14] = 2, ip[15] = 15;
  ip[16] = 10, ip[17] = 0, ip[18] = 2, ip[19] = 2;
  uint8_t* l4 = ip + 20;
  put16(l4, 7);
  put16(l4 + 2, 40000);
  if (proto == 6) {
    l4[12] = static_cast<uint8_t>((l4h / 4) << 4);
    l4[13] = tcp_flags;
  } else {
    put16(l4 + 4, l4h + payload);
  }
  for (uint32_t i = 0; i < payload; i++) l4[l4h + i] = static_cast<uint8_t>(i * 7 + 3);
  put16(l4 + (proto == 6 ? 16 : 6), v::pseudo_sum(ip, proto, l4h + payload));
  return f;
}

// The one's complement sum of the pseudo-header and the L4 segment: 0xffff when the checksum is right.
uint32_t verify(const std::vector<uint8_t>& f) {
  const uint8_t* ip = f.data() + 14;
  uint32_t l4_len = get16(ip + 2) - 20u;
  uint32_t s = v::pseudo_sum(ip, ip[9], l4_len) + ustack::bytes::ones_sum(ip + 20, l4_len);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return s;
}

void test_layout() {
  v::Hdr h;
  h.flags = v::kFlagNeedsCsum;
  h.gso_type = v::kGsoTcpv4 | v::kGsoEcn;
  h.hdr_len = 0x1234;
  h.gso_size = 1448;
  h.csum_start = 34;
  h.csum_offset = 16;
  h.num_buffers = 3;
  uint8_t b[v::kHdrLen];
  v::write(b, h);
  const uint8_t want[v::kHdrLen] = {1, 0x81, 0x34, 0x12, 0xa8, 0x05, 34, 0, 16, 0, 3, 0};
  CHECK(std::memcmp(b, want, sizeof want) == 0);
  v::Hdr r = v::read(b);
  CHECK(r.flags == h.flags && r.gso_type == h.gso_type && r.hdr_len == h.hdr_len && r.gso_size == h.gso_size);
  CHECK(r.csum_start == 34 && r.csum_offset == 16 && r.num_buffers == 3 && r.gso());
  CHECK(!v::Hdr().gso());
}

void test_tx() {
  v::TxCaps caps;
  caps.csum = true;
  caps.tso4 = true;
  caps.ecn = true;
  // A TCP segment within the MTU: checksum offload only.
  auto f = frame(6, 1000, 12);
  v::Hdr h = v::tx_header(f.data(), static_cast<uint32_t>(f.size()), caps);
  CHECK(h.flags == v::kFlagNeedsCsum && h.csum_start == 34 && h.csum_offset == 16 && !h.gso());
  // UDP: offset 6.
  auto u = frame(17, 100);
  h = v::tx_header(u.data(), static_cast<uint32_t>(u.size()), caps);
  CHECK(h.flags == v::kFlagNeedsCsum && h.csum_start == 34 && h.csum_offset == 6 && !h.gso());
  // A 64 KiB TCP super-frame with 12 bytes of options: GSO_TCPV4, gso_size = 1500 - 20 - 32.
  auto big = frame(6, 1448 * 45, 12);
  h = v::tx_header(big.data(), static_cast<uint32_t>(big.size()), caps);
  CHECK(h.gso_type == v::kGsoTcpv4 && h.gso_size == 1448 && h.hdr_len == 14 + 20 + 32 && h.flags == v::kFlagNeedsCsum);
  // CWR set: ECN, only where the peer takes it.
  auto cwr = frame(6, 5000, 0, 0x98);
  h = v::tx_header(cwr.data(), static_cast<uint32_t>(cwr.size()), caps);
  CHECK(h.gso_type == (v::kGsoTcpv4 | v::kGsoEcn) && h.gso_size == 1460);
  v::TxCaps no_ecn = caps;
  no_ecn.ecn = false;
  CHECK(v::tx_header(cwr.data(), static_cast<uint32_t>(cwr.size()), no_ecn).gso_type == v::kGsoTcpv4);
  // Without TSO a long frame gets the checksum only; without csum nothing at all.
  v::TxCaps csum_only = caps;
  csum_only.tso4 = false;
  h = v::tx_header(big.data(), static_cast<uint32_t>(big.size()), csum_only);
  CHECK(h.flags == v::kFlagNeedsCsum && !h.gso());
  v::TxCaps none;
  h = v::tx_header(f.data(), static_cast<uint32_t>(f.size()), none);
  CHECK(h.flags == 0 && !h.gso());
  // The MTU decides: at mtu + 14 no GSO, one byte more GSO.
  v::TxCaps small = caps;
  small.mtu = static_cast<uint32_t>(f.size()) - 14;
  CHECK(!v::tx_header(f.data(), static_cast<uint32_t>(f.size()), small).gso());
  small.mtu--;
  CHECK(v::tx_header(f.data(), static_cast<uint32_t>(f.size()), small).gso());
  // A checksum the stack completed itself: no header.
  auto done = frame(6, 300);
  put16(done.data() + 34 + 16, 0);
  put16(done.data() + 34 + 16, static_cast<uint16_t>(~verify(done)));
  CHECK(verify(done) == 0xffff);
  CHECK(v::tx_header(done.data(), static_cast<uint32_t>(done.size()), caps).flags == 0);
  // Fragments, other protocols, other EtherTypes, runts, bad IHL: no header.
  auto frag = frame(17, 100);
  frag[14 + 6] = 0x20;  // MF
  CHECK(v::tx_header(frag.data(), static_cast<uint32_t>(frag.size()), caps).flags == 0);
  auto icmp = frame(17, 100);
  icmp[14 + 9] = 1;
  CHECK(v::tx_header(icmp.data(), static_cast<uint32_t>(icmp.size()), caps).flags == 0);
  auto arp = frame(17, 100);
  arp[13] = 0x06;
  CHECK(v::tx_header(arp.data(), static_cast<uint32_t>(arp.size()), caps).flags == 0);
  CHECK(v::tx_header(f.data(), 14 + 20 + 19, caps).flags == 0);
  auto ihl = frame(6, 10);
  ihl[14] = 0x44;
  CHECK(v::tx_header(ihl.data(), static_cast<uint32_t>(ihl.size()), caps).flags == 0);
  // A TCP header length field beyond the frame: checksum offload, no GSO.
  auto thl = frame(6, 3000);
  thl[34 + 12] = 0xf0;
  h = v::tx_header(thl.data(), 14 + 20 + 40, caps);
  CHECK(!h.gso());
}

// An Ethernet + IPv6 + TCP/UDP frame with `payload` bytes and the IPv6
// pseudo-header sum in the checksum field, as the stack writes it for the NIC.
std::vector<uint8_t> frame6(uint8_t nh, uint32_t payload, uint32_t tcp_opts = 0, uint8_t tcp_flags = 0x18) {
  uint32_t l4h = nh == 6 ? 20 + tcp_opts : 8;
  std::vector<uint8_t> f(14 + 40 + l4h + payload, 0);
  f[12] = 0x86, f[13] = 0xdd;
  uint8_t* ip = f.data() + 14;
  ip[0] = 0x60;
  put16(ip + 4, l4h + payload);
  ip[6] = nh;
  ip[7] = 64;
  ip[8] = 0xfd, ip[23] = 1;   // fd00::1
  ip[24] = 0xfd, ip[39] = 2;  // fd00::2
  uint8_t* l4 = ip + 40;
  put16(l4, 7);
  put16(l4 + 2, 40000);
  if (nh == 6) {
    l4[12] = static_cast<uint8_t>((l4h / 4) << 4);
    l4[13] = tcp_flags;
  } else {
    put16(l4 + 4, l4h + payload);
  }
  for (uint32_t i = 0; i < payload; i++) l4[l4h + i] = static_cast<uint8_t>(i * 5 + 1);
  put16(l4 + (nh == 6 ? 16 : 6), v::pseudo_sum6(ip, nh, l4h + payload));
  return f;
}

// IPv6: TCP gets NEEDS_CSUM (and GSO_TCPV6 above the MTU with tso6); UDP,
// a complete checksum, an extension header, a wrong version or a payload
// length past the frame get nothing.
void test_tx6() {
  v::TxCaps caps;
  caps.csum = true;
  caps.tso4 = true;
  caps.tso6 = true;
  caps.ecn = true;
  auto f = frame6(6, 1000, 12);
  v::Hdr h = v::tx_header(f.data(), static_cast<uint32_t>(f.size()), caps);
  CHECK(h.flags == v::kFlagNeedsCsum && h.csum_start == 54 && h.csum_offset == 16 && !h.gso());
  // The pseudo-header sum of fd00::1 -> fd00::2, TCP, 1032 bytes, by hand: 0xfd00 + 1 + 0xfd00 + 2 + 6 + 1032.
  uint32_t want = 0xfd00u + 1 + 0xfd00u + 2 + 6 + 1032;
  while (want >> 16) want = (want & 0xffff) + (want >> 16);
  CHECK(v::pseudo_sum6(f.data() + 14, 6, 1032) == want);
  auto big = frame6(6, 4000, 12);
  h = v::tx_header(big.data(), static_cast<uint32_t>(big.size()), caps);
  CHECK(h.flags == v::kFlagNeedsCsum && h.gso_type == v::kGsoTcpv6);
  CHECK(h.hdr_len == 14 + 40 + 32 && h.gso_size == 1500 - 40 - 32);
  auto cwr = frame6(6, 4000, 0, 0x90);
  CHECK(v::tx_header(cwr.data(), static_cast<uint32_t>(cwr.size()), caps).gso_type == (v::kGsoTcpv6 | v::kGsoEcn));
  v::TxCaps v4_only = caps;
  v4_only.tso6 = false;
  h = v::tx_header(big.data(), static_cast<uint32_t>(big.size()), v4_only);
  CHECK(h.flags == v::kFlagNeedsCsum && !h.gso());
  v::TxCaps none;
  CHECK(v::tx_header(f.data(), static_cast<uint32_t>(f.size()), none).flags == 0);
  // UDP over IPv6 is summed by the stack: never marked.
  auto u = frame6(17, 100);
  CHECK(v::tx_header(u.data(), static_cast<uint32_t>(u.size()), caps).flags == 0);
  auto done = f;
  done[14 + 40 + 16] ^= 0x5a;
  CHECK(v::tx_header(done.data(), static_cast<uint32_t>(done.size()), caps).flags == 0);
  auto ext = f;
  ext[14 + 6] = 0;  // hop-by-hop in front
  CHECK(v::tx_header(ext.data(), static_cast<uint32_t>(ext.size()), caps).flags == 0);
  auto ver = f;
  ver[14] = 0x40;
  CHECK(v::tx_header(ver.data(), static_cast<uint32_t>(ver.size()), caps).flags == 0);
  CHECK(v::tx_header(f.data(), static_cast<uint32_t>(f.size()) - 1, caps).flags == 0);  // payload length past the frame
  CHECK(v::tx_header(f.data(), 14 + 40 + 19, caps).flags == 0);
}

void test_rx() {
  // NEEDS_CSUM completed in place gives a valid checksum; with flags wanted it is only marked.
  for (uint8_t proto : {uint8_t{6}, uint8_t{17}}) {
    for (uint32_t payload : {0u, 1u, 17u, 1000u, 1449u, 65000u}) {
      if (proto == 17 && payload > 60000) continue;
      auto f = frame(proto, payload);
      v::Hdr h;
      h.flags = v::kFlagNeedsCsum;
      h.csum_start = 34;
      h.csum_offset = proto == 6 ? 16 : 6;
      auto g = f;
      v::RxCsum w;
      CHECK(v::rx_checksum(h, g.data(), static_cast<uint32_t>(g.size()), false, &w) == v::kRxFlagCsumVerified);
      CHECK(w == v::RxCsum::kPartial && g == f);
      CHECK(v::rx_checksum(h, f.data(), static_cast<uint32_t>(f.size()), true, &w) == 0);
      CHECK(w == v::RxCsum::kCompleted && verify(f) == 0xffff);
    }
  }
  // Ethernet padding is not summed: a short UDP datagram padded to 60 bytes.
  auto pad = frame(17, 2);
  pad.resize(60, 0xee);
  v::Hdr h;
  h.flags = v::kFlagNeedsCsum;
  h.csum_start = 34;
  h.csum_offset = 6;
  v::rx_checksum(h, pad.data(), 60, true, nullptr);
  pad.resize(14 + 20 + 8 + 2);
  CHECK(verify(pad) == 0xffff);
  std::vector<uint8_t> padded = pad;
  padded.resize(60, 0);
  CHECK(v::l3_end(padded.data(), 60) == 44);
  CHECK(v::l3_end(padded.data(), 40) == 40);
  // DATA_VALID: flagged when flags are wanted, nothing to do otherwise.
  auto f = frame(6, 100);
  auto orig = f;
  h = v::Hdr();
  h.flags = v::kFlagDataValid;
  v::RxCsum w;
  CHECK(v::rx_checksum(h, f.data(), static_cast<uint32_t>(f.size()), false, &w) == v::kRxFlagCsumVerified && w == v::RxCsum::kValid);
  CHECK(v::rx_checksum(h, f.data(), static_cast<uint32_t>(f.size()), true, &w) == 0 && w == v::RxCsum::kValid && f == orig);
  // No flags: nothing said.
  h.flags = 0;
  CHECK(v::rx_checksum(h, f.data(), static_cast<uint32_t>(f.size()), false, &w) == 0 && w == v::RxCsum::kNone);
  // NEEDS_CSUM pointing outside the packet: not marked, nothing written.
  h.flags = v::kFlagNeedsCsum;
  h.csum_start = static_cast<uint16_t>(f.size());
  h.csum_offset = 16;
  CHECK(v::rx_checksum(h, f.data(), static_cast<uint32_t>(f.size()), false, &w) == 0 && w == v::RxCsum::kMalformed);
  h.csum_start = 34;
  h.csum_offset = 0xffff;
  CHECK(v::rx_checksum(h, f.data(), static_cast<uint32_t>(f.size()), true, &w) == 0 && w == v::RxCsum::kMalformed && f == orig);
  // The field ending exactly at the packet's end is inside; one byte further is not.
  h.csum_offset = static_cast<uint16_t>(f.size() - 34 - 2);
  CHECK(v::rx_checksum(h, f.data(), static_cast<uint32_t>(f.size()), false, &w) == 1 && w == v::RxCsum::kPartial);
  h.csum_offset++;
  CHECK(v::rx_checksum(h, f.data(), static_cast<uint32_t>(f.size()), false, &w) == 0 && w == v::RxCsum::kMalformed);
}

// Arbitrary bytes and headers: nothing read or written outside [0, len)
// (the frame sits at the end of its allocation, so ASan would see it).
void test_arbitrary() {
  uint32_t rng = 99;
  auto next = [&]() {
    rng = rng * 1103515245 + 12345;
    return rng >> 8;
  };
  int ok = 0;
  for (int i = 0; i < 20000; i++) {
    uint32_t len = next() % 200;
    std::vector<uint8_t> f(len);
    for (auto& b : f) b = static_cast<uint8_t>(next());
    if (len > 14 && next() % 2) f[12] = 0x08, f[13] = 0x00;
    if (len > 14 && next() % 3 == 0) f[12] = 0x86, f[13] = 0xdd;
    if (len > 15 && next() % 2) f[14] = f[12] == 0x86 ? 0x60 : 0x45;
    if (len > 20 && f[12] == 0x86 && next() % 2) f[20] = 6;
    v::TxCaps caps;
    caps.csum = true;
    caps.tso4 = true;
    caps.tso6 = true;
    caps.mtu = 40 + next() % 100;
    v::Hdr h = v::tx_header(f.data(), len, caps);
    bool sane = h.flags == 0 || (h.csum_start + h.csum_offset + 2u <= len);
    v::Hdr r;
    r.flags = static_cast<uint8_t>(next());
    r.csum_start = static_cast<uint16_t>(next());
    r.csum_offset = static_cast<uint16_t>(next() % 300);
    v::rx_checksum(r, f.data(), len, next() % 2 == 0, nullptr);
    if (sane) ok++;
  }
  CHECK(ok == 20000);
}

}  // namespace

int main() {
  test_layout();
  test_tx();
  test_tx6();
  test_rx();
  test_arbitrary();
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
