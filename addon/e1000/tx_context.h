// TX offload planning for the 8254x, kept pure (reads a frame, computes
// descriptor fields; no device, no DMA) so it can be unit-tested on its own
// (addon/e1000/ring_test.cc, run by scripts/test-native.sh).
//
// Offloads go through a TCP/IP context descriptor (8254x manual 3.3.6)
// followed by extended data descriptors (3.3.7) carrying POPTS TXSM/IXSM:
//  - checksum offload (IPv4 TCP/UDP): the stack wrote the pseudo-header sum
//    (length included) into the TCP/UDP checksum field; the device sums from
//    TUCSS to the end and stores the result at TUCSO. IP header checksum too
//    (IXSM) only when the stack left that field zero.
//  - TSO (IPv4 TCP whose IP packet is longer than the MTU): context with TSE,
//    HDRLEN (Ethernet + IP + TCP header bytes), MSS (mtu - IP header - TCP
//    header with options: the stack's segments are whole multiples of it) and
//    PAYLEN (TCP payload bytes). The device cuts the payload into MSS-sized
//    segments, copies the header in front of each and rewrites per segment
//    the IP total length, identification (+1 per segment) and checksum, the
//    TCP sequence number, PSH/FIN (last segment only) and the TCP checksum.
//    Before that, seed_tso() puts in the header what the device expects
//    (manual 3.5.x; Linux e1000_tso(); QEMU hw/net/e1000.c xmit_seg()): IP
//    total length and checksum zero (the device recomputes both for every
//    segment; QEMU sums the header with the field as it finds it), and in the
//    TCP checksum field the pseudo-header sum WITHOUT the length (the device
//    adds each segment's own TCP length).
//
// QEMU's model (hw/net/e1000.c process_tx_desc, every version to date) sends
// one extra, header-only segment after a TSO frame whose payload is a whole
// number of MSS: the last full segment goes out when it fills, and the EOP
// path then sends what is left, the bare header (seq = end of the data, same
// ack, flags kept). To the peer that is a duplicate ACK. The stack's TSO
// frames are often whole multiples of its MSS, so on QEMU (PCI subsystem
// vendor 0x1af4) the driver cuts such a frame itself (segment_header(): k
// plain frames with checksum offload, exactly what a real TSO would put on
// the wire) and, when it has no free slots for that, lowers the MSS just
// enough that the payload splits into k + 1 nearly equal segments with a
// short last one (avoid_whole_mss()). Real 8254x parts need neither.
//
// The device keeps the last context it was given, so a context descriptor is
// written only when the needed one differs (Context ==): a TSO context (whose
// PAYLEN changes with every frame) is followed by a fresh plain checksum
// context before the next checksum-only frame.
#pragma once
#include <cstdint>

#include "e1000/regs.h"

namespace ustack::e1000::txctx {

struct Context {
  uint8_t ipcss = 0, ipcso = 0;
  uint16_t ipcse = 0;
  uint8_t tucss = 0, tucso = 0;
  uint16_t tucse = 0;    // 0: to the end of the packet
  uint8_t tucmd = 0;     // TUCMD_IP | TUCMD_TCP | TXD_CMD_TSE
  uint8_t hdrlen = 0;    // TSO only
  uint16_t mss = 0;      // TSO only
  uint32_t paylen = 0;   // TSO only (20 bits)

  bool operator==(const Context& o) const {
    return ipcss == o.ipcss && ipcso == o.ipcso && ipcse == o.ipcse && tucss == o.tucss && tucso == o.tucso &&
           tucse == o.tucse && tucmd == o.tucmd && hdrlen == o.hdrlen && mss == o.mss && paylen == o.paylen;
  }
  bool operator!=(const Context& o) const { return !(*this == o); }
  bool tso() const { return (tucmd & reg::TXD_CMD_TSE) != 0; }
};

enum class Kind : uint8_t { kPlain, kChecksum, kTso };

struct Plan {
  Kind kind = Kind::kPlain;  // kPlain: a legacy descriptor, no context
  Context ctx;
  uint8_t popts = 0;  // POPTS of the data descriptor
  bool whole_mss = false;    // TSO: the payload is a whole number (>= 2) of MSS
  bool mss_lowered = false;  // TSO: MSS lowered to avoid a whole number of segments
};

// What the device was opened with.
struct Caps {
  uint32_t mtu = 1500;          // IP MTU TSO cuts to
  bool csum = true;             // checksum offload
  bool tso = false;             // TSO (needs csum)
  bool avoid_whole_mss = false; // QEMU: never a TSO payload that is a whole number of MSS
};

// The three 32/64-bit words of a descriptor as the device reads them.
struct Desc {
  uint64_t addr = 0;
  uint32_t lower = 0;
  uint32_t upper = 0;
};

constexpr uint32_t kEthHeader = 14, kVlanHeader = 18;
constexpr uint32_t kMaxPaylen = (1u << 20) - 1;

inline uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline void put_be16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// Folded, uncomplemented one's complement sum of the IPv4 pseudo-header
// without the length: source, destination, zero + protocol.
inline uint16_t pseudo_sum_no_len(const uint8_t* ip, uint8_t proto) {
  uint32_t s = 0;
  for (int i = 12; i < 20; i += 2) s += be16(ip + i);
  s += proto;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}

// For a TSO payload of k whole segments of `mss` (k >= 2): the smallest MSS
// that cuts it into k + 1 segments, the last one short (never empty, never a
// whole segment). Otherwise `mss` itself.
inline uint32_t tso_mss_avoiding_whole(uint32_t paylen, uint32_t mss) {
  if (mss == 0 || paylen % mss != 0 || paylen / mss < 2) return mss;
  uint32_t k1 = paylen / mss + 1;
  uint32_t m = (paylen + k1 - 1) / k1;  // ceil(paylen / (k + 1))
  if (paylen % m == 0) m++;
  // Sanity (holds while k + 1 < mss, i.e. always for 64 KiB frames): k + 1 segments of at most mss.
  if (m > mss || (paylen + m - 1) / m != k1 || paylen % m == 0) return mss;
  return m;
}

// Lowers a whole-MSS TSO plan's MSS (tso_mss_avoiding_whole).
inline void avoid_whole_mss(Plan& p) {
  if (p.kind != Kind::kTso || !p.whole_mss) return;
  uint32_t m = tso_mss_avoiding_whole(p.ctx.paylen, p.ctx.mss);
  p.mss_lowered = m != p.ctx.mss;
  p.ctx.mss = static_cast<uint16_t>(m);
}

// What the frame needs: nothing (kPlain), checksum offload, or TSO.
inline Plan plan(const uint8_t* f, uint32_t len, const Caps& caps) {
  Plan p;
  const uint32_t mtu = caps.mtu;
  if (!caps.csum || len < kEthHeader + 20) return p;
  uint32_t l3 = kEthHeader;
  uint16_t et = be16(f + 12);
  if (et == 0x8100) {
    if (len < kVlanHeader + 20) return p;
    l3 = kVlanHeader;
    et = be16(f + 16);
  }
  if (et != 0x0800 || (f[l3] >> 4) != 4) return p;
  uint32_t ihl = (f[l3] & 0x0fu) * 4;
  uint8_t proto = f[l3 + 9];
  uint16_t frag = static_cast<uint16_t>((f[l3 + 6] & 0x3f) << 8 | f[l3 + 7]);  // MF + offset
  uint32_t l4 = l3 + ihl;
  bool tcp = proto == 6, udp = proto == 17;
  if (frag != 0 || ihl < 20 || !(tcp || udp) || l4 + (tcp ? 20 : 8) > len || l4 + 16 >= 256) return p;
  Context& c = p.ctx;
  c.ipcss = static_cast<uint8_t>(l3);
  c.ipcso = static_cast<uint8_t>(l3 + 10);
  c.ipcse = static_cast<uint16_t>(l4 - 1);
  c.tucss = static_cast<uint8_t>(l4);
  c.tucso = static_cast<uint8_t>(l4 + (tcp ? 16 : 6));
  c.tucse = 0;
  c.tucmd = static_cast<uint8_t>(reg::TUCMD_IP | (tcp ? reg::TUCMD_TCP : 0));
  p.kind = Kind::kChecksum;
  p.popts = reg::POPTS_TXSM;
  if (f[c.ipcso] == 0 && f[c.ipcso + 1] == 0) p.popts |= reg::POPTS_IXSM;
  if (!caps.tso || !tcp) return p;
  uint32_t ip_len = be16(f + l3 + 2);
  if (ip_len <= mtu || l3 + ip_len != len) return p;  // fits the MTU (or odd lengths): checksum only
  uint32_t thl = (f[l4 + 12] >> 4) * 4u;
  uint32_t hdrlen = l4 + thl;
  if (thl < 20 || hdrlen > 255 || hdrlen >= len || ihl + thl >= mtu) return p;
  uint32_t mss = mtu - ihl - thl;
  uint32_t paylen = len - hdrlen;
  if (paylen > kMaxPaylen || mss > 0xffff) return p;
  c.tucmd = static_cast<uint8_t>(c.tucmd | reg::TXD_CMD_TSE);
  c.hdrlen = static_cast<uint8_t>(hdrlen);
  c.mss = static_cast<uint16_t>(mss);
  c.paylen = paylen;
  p.kind = Kind::kTso;
  p.popts = reg::POPTS_TXSM | reg::POPTS_IXSM;
  p.whole_mss = paylen % mss == 0;
  if (caps.avoid_whole_mss) avoid_whole_mss(p);
  return p;
}

// Segments a TSO plan becomes on the wire (QEMU's extra header-only one not counted).
inline uint32_t segments(const Plan& p) { return p.kind == Kind::kTso ? (p.ctx.paylen + p.ctx.mss - 1) / p.ctx.mss : 1; }

// Software segmentation (the QEMU whole-MSS case): turns `h`, a copy of the
// TSO frame's header exactly as the stack wrote it (hdrlen bytes, not
// seeded), into the header of plain segment i of `n`, which carries `seg_len`
// payload bytes (payload offset i * mss): IP total length, identification +
// i, IP checksum 0 (its checksum plan then asks for IXSM), TCP sequence +
// i * mss, PSH/FIN on the last segment only, and the TCP checksum field the
// pseudo-header sum with this segment's length (checksum offload).
inline void segment_header(uint8_t* h, const Plan& p, uint32_t i, uint32_t n, uint32_t seg_len) {
  const Context& c = p.ctx;
  uint8_t* ip = h + c.ipcss;
  uint8_t* tcp = h + c.tucss;
  uint32_t tcp_len = c.hdrlen - c.tucss + seg_len;
  put_be16(ip + 2, static_cast<uint16_t>(c.tucss - c.ipcss + tcp_len));
  put_be16(ip + 4, static_cast<uint16_t>(be16(ip + 4) + i));
  put_be16(ip + 10, 0);
  uint32_t seq = (static_cast<uint32_t>(be16(tcp + 4)) << 16 | be16(tcp + 6)) + i * c.mss;
  put_be16(tcp + 4, static_cast<uint16_t>(seq >> 16));
  put_be16(tcp + 6, static_cast<uint16_t>(seq));
  if (i + 1 < n) tcp[13] = static_cast<uint8_t>(tcp[13] & ~0x09);  // PSH, FIN
  uint32_t sum = pseudo_sum_no_len(ip, 6) + tcp_len;
  sum = (sum & 0xffff) + (sum >> 16);
  put_be16(h + c.tucso, static_cast<uint16_t>(sum));
}

// Rewrites a TSO frame's headers as the device expects them (see above).
inline void seed_tso(uint8_t* f, const Plan& p) {
  if (p.kind != Kind::kTso) return;
  uint8_t* ip = f + p.ctx.ipcss;
  put_be16(ip + 2, 0);   // total length: per segment
  put_be16(ip + 10, 0);  // header checksum: per segment (IXSM)
  put_be16(f + p.ctx.tucso, pseudo_sum_no_len(ip, 6));
}

// Context descriptor (DEXT, DTYP 0). RS so its DD is written back like any other.
inline Desc context_descriptor(const Context& c) {
  Desc d;
  d.addr = static_cast<uint64_t>(c.ipcss) | static_cast<uint64_t>(c.ipcso) << 8 | static_cast<uint64_t>(c.ipcse) << 16 |
           static_cast<uint64_t>(c.tucss) << 32 | static_cast<uint64_t>(c.tucso) << 40 |
           static_cast<uint64_t>(c.tucse) << 48;
  d.lower = (c.paylen & kMaxPaylen) | static_cast<uint32_t>(reg::TXD_CMD_DEXT | reg::TXD_CMD_RS | c.tucmd) << 24;
  d.upper = static_cast<uint32_t>(c.hdrlen) << 8 | static_cast<uint32_t>(c.mss) << 16;
  return d;
}

// Data descriptor for one whole frame in one buffer: extended (DEXT, DTYP_D)
// with the plan's POPTS (and TSE for TSO), or legacy for kPlain.
inline Desc data_descriptor(uint64_t addr, uint32_t len, const Plan& p) {
  Desc d;
  d.addr = addr;
  if (p.kind == Kind::kPlain) {
    d.lower = (len & 0xffff) | static_cast<uint32_t>(reg::TXD_CMD_EOP | reg::TXD_CMD_IFCS | reg::TXD_CMD_RS) << 24;
    return d;
  }
  uint8_t cmd = reg::TXD_CMD_DEXT | reg::TXD_CMD_EOP | reg::TXD_CMD_IFCS | reg::TXD_CMD_RS;
  if (p.kind == Kind::kTso) cmd |= reg::TXD_CMD_TSE;
  d.lower = (len & kMaxPaylen) | reg::TXD_DTYP_D | static_cast<uint32_t>(cmd) << 24;
  d.upper = static_cast<uint32_t>(p.popts) << 8;
  return d;
}

}  // namespace ustack::e1000::txctx
