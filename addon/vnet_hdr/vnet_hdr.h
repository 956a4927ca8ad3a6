// The virtio_net_hdr (virtio 1.x 5.1.6; include/uapi/linux/virtio_net.h):
// the one implementation of checksum offload and TSO/GSO both ways for the
// two backends that carry it, the TAP device (IFF_VNET_HDR, in front of every
// frame on the fd) and the virtio-net driver (in a descriptor of its own in
// front of every buffer). Plain C++, no N-API, no device: vnet_hdr_test.cc
// checks it.
//
// Layout (12 bytes, little-endian: legacy TAP headers are in native order,
// virtio 1.x ones little-endian, and this is x86/arm64):
//   u8 flags; u8 gso_type; le16 hdr_len; le16 gso_size; le16 csum_start;
//   le16 csum_offset; le16 num_buffers
//
// Transmit (tx_header): the stack writes, for an IPv4 TCP/UDP packet it
// leaves to the NIC, the pseudo-header sum (length included) in the
// checksum field. Such a frame gets NEEDS_CSUM with csum_start/csum_offset
// (the device or the kernel sums from csum_start to the end and stores the
// complement there); a frame whose field holds anything else was summed by
// the stack and goes as it is. A TCP frame longer than one MTU also gets
// GSO_TCPV4 with gso_size = mtu - IP header - TCP header (options included,
// so the stack's segments are whole multiples of it) and hdr_len = the
// headers' bytes; ECN when CWR is set and the peer takes it. IPv6 the same
// for TCP only (the stack writes no extension header in front of it; UDP
// over IPv6 is summed by the stack and goes as it is): NEEDS_CSUM when the
// field holds the IPv6 pseudo-header sum, GSO_TCPV6 above one MTU when the
// other side takes it (gso_size = mtu - 40 - TCP header).
//
// Receive (rx_checksum): the peer may hand over GSO super-frames (up to
// 64 KiB of TCP) and partial checksums (NEEDS_CSUM: the field holds the
// pseudo-header sum, as Linux's CHECKSUM_PARTIAL). With per-frame flags the
// frame is only marked (NEEDS_CSUM and DATA_VALID: verified); without them
// the partial checksum is completed in place, so a consumer that ignores
// flags still sees a frame whose checksum is whole.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ustack::vnet {

constexpr uint32_t kHdrLen = 12;  // with num_buffers: virtio 1.x, and the TAP form asked for
constexpr uint8_t kFlagNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
constexpr uint8_t kFlagDataValid = 2;  // VIRTIO_NET_HDR_F_DATA_VALID
constexpr uint8_t kGsoNone = 0;
constexpr uint8_t kGsoTcpv4 = 1;
constexpr uint8_t kGsoUdp = 3;
constexpr uint8_t kGsoTcpv6 = 4;
constexpr uint8_t kGsoEcn = 0x80;
// The per-frame receive flag the stack reads (src/driver/nic.ts RX_FLAG_CSUM_VERIFIED).
constexpr uint8_t kRxFlagCsumVerified = 1;

struct Hdr {
  uint8_t flags = 0;
  uint8_t gso_type = kGsoNone;
  uint16_t hdr_len = 0;
  uint16_t gso_size = 0;
  uint16_t csum_start = 0;
  uint16_t csum_offset = 0;
  uint16_t num_buffers = 0;
  bool gso() const { return (gso_type & ~kGsoEcn) != kGsoNone; }
};

inline uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
inline void put_le16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
inline uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

inline Hdr read(const uint8_t* p) {
  Hdr h;
  h.flags = p[0];
  h.gso_type = p[1];
  h.hdr_len = le16(p + 2);
  h.gso_size = le16(p + 4);
  h.csum_start = le16(p + 6);
  h.csum_offset = le16(p + 8);
  h.num_buffers = le16(p + 10);
  return h;
}

inline void write(uint8_t* p, const Hdr& h) {
  p[0] = h.flags;
  p[1] = h.gso_type;
  put_le16(p + 2, h.hdr_len);
  put_le16(p + 4, h.gso_size);
  put_le16(p + 6, h.csum_start);
  put_le16(p + 8, h.csum_offset);
  put_le16(p + 10, h.num_buffers);
}

// What the other side accepted (TAP: TUN_F_CSUM | TUN_F_TSO4, and ECN with
// them; virtio: the negotiated CSUM, HOST_TSO4, HOST_ECN).
struct TxCaps {
  uint32_t mtu = 1500;  // IP MTU the GSO cuts to
  bool csum = false;    // NEEDS_CSUM may be set
  bool tso4 = false;    // GSO_TCPV4 may be set (needs csum)
  bool ecn = false;     // GSO_ECN may be set
  bool tso6 = false;    // GSO_TCPV6 may be set (needs csum)
};

// Folded (not complemented) one's complement sum of the IPv4 pseudo-header
// of `ip` with protocol and L4 length: what the stack writes into the
// checksum field of a frame it leaves to the NIC.
inline uint16_t pseudo_sum(const uint8_t* ip, uint8_t proto, uint32_t l4_len) {
  uint32_t s = 0;
  for (int i = 12; i < 20; i += 2) s += be16(ip + i);
  s += proto;
  s += l4_len & 0xffff;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}

// Folded (not complemented) one's complement sum of the IPv6 pseudo-header
// (RFC 8200 §8.1) of the 40-byte header at `ip` with next header `nh` and
// upper-layer length `l4_len`.
inline uint16_t pseudo_sum6(const uint8_t* ip, uint8_t nh, uint32_t l4_len) {
  uint32_t s = 0;
  for (int i = 8; i < 40; i += 2) s += be16(ip + i);
  s += nh;
  s += (l4_len >> 16) + (l4_len & 0xffff);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}

// The header for a frame of `len` bytes the stack wrote (see the file
// comment). Everything is read within [0, len): a runt or a frame of another
// kind gets the all-zero header (nothing for the other side to do).
Hdr tx_header(const uint8_t* f, uint32_t len, const TxCaps& caps);

// End of the IPv4 packet inside an Ethernet frame (padding excluded), or
// `len` when the frame is not IPv4 or its total length says more.
uint32_t l3_end(const uint8_t* f, uint32_t len);

// What rx_checksum found.
enum class RxCsum : uint8_t {
  kNone,       // nothing said: the stack verifies
  kValid,      // DATA_VALID
  kPartial,    // NEEDS_CSUM, flagged as verified (flags wanted)
  kCompleted,  // NEEDS_CSUM, completed in place
  kMalformed,  // NEEDS_CSUM outside the frame: left for the stack to reject
};

// The receive flag for frame f (len bytes) with header h (see the file
// comment). `complete`: no per-frame flags are wanted, so a partial
// checksum is completed in f (the returned flag is then 0). `*what` (may be
// null) says which case it was.
uint8_t rx_checksum(const Hdr& h, uint8_t* f, uint32_t len, bool complete, RxCsum* what);

}  // namespace ustack::vnet
