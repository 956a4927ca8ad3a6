// The XDP program ustack attaches: it sends to the AF_XDP socket only the
// frames that are the stack's and passes everything else to the kernel.
//
//   ARP (Ethernet, IPv4) whose target protocol address is one of ours  -> redirect
//   IPv4 whose destination address is one of ours (every fragment)     -> redirect
//   IPv6 whose destination address is in the IPv6 map (every fragment) -> redirect
//   IPv6 to a multicast group carrying ICMPv6 (no extension header) NS
//     or NA whose target address is in the IPv6 map                     -> redirect
//   anything else, or a frame too short to tell                         -> XDP_PASS
//
// "Ours" is a key in the addresses map (BPF_MAP_TYPE_HASH, key: the IPv4
// address as it is on the wire, 4 bytes; value: 4 bytes, unused), which the
// addon updates when the stack's addresses change. The IPv6 map (key: the
// 16 address bytes as on the wire) holds the stack's unicast addresses
// (tentative ones too: DAD's NS and NA name them), and the all-nodes group
// ff02::1 when the stack takes the whole group (SLAAC: it needs the RAs).
// A group the kernel and the stack both listen on goes to one of them only
// (XDP cannot copy a frame): so the stack's solicited-node groups are not
// keys — ND to them comes by its target, and the kernel keeps the rest of
// the group traffic (its own addresses may share the group). The redirect goes through
// the XSKMAP at the receive queue's index, with XDP_PASS as the fallback
// when no socket is bound there (bpf_redirect_map's flags).
//
// The counters map (BPF_MAP_TYPE_ARRAY of kCounterCount u64, updated with
// atomic adds) counts what the program decided about the stack's frames:
// redirected to the socket, or not, because no socket is bound on the queue
// the frame arrived on (the kernel then drops it: it is not its address).
// The second is what a multi-queue NIC shows when the stack's traffic is not
// steered to the bound queue.
//
// Loads of packet bytes follow a check of data + N against data_end, as the
// verifier requires; every 2- and 4-byte load is naturally aligned for an IP
// header that starts 2 bytes past a 4-byte boundary (NET_IP_ALIGN), so the
// program also verifies under strict alignment.
#pragma once
#include <linux/bpf.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ustack::xdp {

// Offsets in struct xdp_md (linux/bpf.h).
constexpr int16_t kMdData = 0;
constexpr int16_t kMdDataEnd = 4;
constexpr int16_t kMdRxQueueIndex = 16;

// Frame offsets the program reads.
constexpr int16_t kEthType = 12;      // EtherType, after both MACs
constexpr int16_t kArpPtype = 14 + 2;  // ARP protocol type
constexpr int16_t kArpTpa = 14 + 24;   // ARP target protocol address
constexpr int16_t kArpEnd = 14 + 28;
constexpr int16_t kIpv4Daddr = 14 + 16;
constexpr int16_t kIpv4End = 14 + 20;
constexpr int16_t kIpv6NextHeader = 14 + 6;
constexpr int16_t kIpv6Daddr = 14 + 24;
constexpr int16_t kIpv6End = 14 + 40;
constexpr int16_t kIcmpv6Type = kIpv6End;      // ICMPv6 right after the fixed header
constexpr int16_t kNdTarget = kIpv6End + 8;    // NS and NA: the target address
constexpr int16_t kNdTargetEnd = kNdTarget + 16;

// The name the program is loaded under (BPF_OBJ_NAME_LEN includes the NUL):
// how a later ustack process recognises a program as one of its own.
constexpr const char* kProgramName = "ustack_xdp";

// The shared-address variant: the stack uses an address the kernel also
// owns, and only its ports come to the socket.
//
//   IPv4 to one of the addresses, TCP or UDP, first fragment (or whole),
//   destination port in [ephemeral_low, ephemeral_high] (the stack's own
//   connections) or in the ports map (key: protocol << 16 | port; the
//   stack's listeners)                                                   -> redirect
//   everything else: ARP, ICMP, other ports, later fragments             -> XDP_PASS
//
// The kernel keeps ARP and ICMP for the address; the header length is read
// from the packet (IHL), bounded, and checked against data_end.
struct SharedPorts {
  int ports_map_fd = -1;
  uint16_t ephemeral_low = 0;
  uint16_t ephemeral_high = 0;
};

// IPv4 fields the shared variant reads.
constexpr int16_t kIpv4VersionIhl = 14;
constexpr int16_t kIpv4FragOff = 14 + 6;
constexpr int16_t kIpv4Proto = 14 + 9;

enum Counter : uint32_t { kRedirected = 0, kNoSocketOnQueue = 1, kCounterCount = 2 };

// Builds the program over the three maps' file descriptors. False (with
// *why) only if the assembler finds a broken label: a bug, covered by the tests.
// addresses6_map_fd: the IPv6 map (key 16 bytes).
bool build_redirect_program(int addresses_map_fd, int addresses6_map_fd, int xsk_map_fd, int counters_map_fd,
                            std::vector<bpf_insn>* out, std::string* why);
bool build_shared_program(int addresses_map_fd, int xsk_map_fd, int counters_map_fd, const SharedPorts& ports,
                          std::vector<bpf_insn>* out, std::string* why);

}  // namespace ustack::xdp
