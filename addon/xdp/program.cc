#include "xdp/program.h"

#include <netinet/in.h>

#include "xdp/bpf_asm.h"

namespace ustack::xdp {

namespace {

// EtherTypes as a little-endian 2-byte load of the big-endian field sees them.
constexpr int32_t kLoadedIpv4 = 0x0008;  // 08 00
constexpr int32_t kLoadedArp = 0x0608;   // 08 06
constexpr int32_t kLoadedIpv6 = 0xdd86;  // 86 dd
constexpr int32_t kIpprotoIcmpv6 = 58;
constexpr int32_t kNeighborSolicit = 135;
constexpr int32_t kNeighborAdvert = 136;

// Copies the 16 bytes at r2 + off (packet, bounds already checked) to the
// stack at r10 - 16 as the key of an IPv6 map lookup, and looks it up: r0 =
// the value or 0. Clobbers r1-r5.
void lookup6(Asm& a, int16_t off, int addresses6_map_fd) {
  for (int16_t k = 0; k < 16; k += 4) {
    a.ldx(BPF_W, R5, R2, static_cast<int16_t>(off + k));
    a.stx(BPF_W, R10, static_cast<int16_t>(-16 + k), R5);
  }
  a.mov(R2, R10);
  a.add(R2, -16);
  a.ld_map_fd(R1, addresses6_map_fd);
  a.call(BPF_FUNC_map_lookup_elem);
}

// bpf_redirect_map(xsks, ctx->rx_queue_index, XDP_PASS), the verdict
// counted, returned. Expects ctx in r6.
void redirect_and_count(Asm& a, int xsk_map_fd, int counters_map_fd) {
  a.ldx(BPF_W, R2, R6, kMdRxQueueIndex);
  a.ld_map_fd(R1, xsk_map_fd);
  a.mov(R3, XDP_PASS);
  a.call(BPF_FUNC_redirect_map);

  // counters[r0 == XDP_REDIRECT ? kRedirected : kNoSocketOnQueue] += 1.
  a.mov(R7, R0);
  a.mov(R2, static_cast<int32_t>(kRedirected));
  a.jmp(BPF_JEQ, R0, XDP_REDIRECT, "count");
  a.mov(R2, static_cast<int32_t>(kNoSocketOnQueue));
  a.label("count");
  a.stx(BPF_W, R10, -8, R2);
  a.mov(R2, R10);
  a.add(R2, -8);
  a.ld_map_fd(R1, counters_map_fd);
  a.call(BPF_FUNC_map_lookup_elem);
  a.jmp(BPF_JEQ, R0, 0, "verdict");
  a.mov(R1, 1);
  a.atomic_add64(R0, 0, R1);
  a.label("verdict");
  a.mov(R0, R7);
  a.exit();
}

}  // namespace

bool build_redirect_program(int addresses_map_fd, int addresses6_map_fd, int xsk_map_fd, int counters_map_fd,
                            std::vector<bpf_insn>* out, std::string* why) {
  Asm a;
  // r6 = ctx (r1 is clobbered by calls); r2 = data, r3 = data_end.
  a.mov(R6, R1);
  a.ldx(BPF_W, R2, R6, kMdData);
  a.ldx(BPF_W, R3, R6, kMdDataEnd);
  a.mov(R4, R2);
  a.add(R4, kEthType + 2);
  a.jmp(BPF_JGT, R4, R3, "pass");
  a.ldx(BPF_H, R5, R2, kEthType);
  a.jmp(BPF_JEQ, R5, kLoadedIpv4, "ipv4");
  a.jmp(BPF_JEQ, R5, kLoadedIpv6, "ipv6");
  a.jmp(BPF_JNE, R5, kLoadedArp, "pass");

  // ARP for IPv4: the target address decides.
  a.mov(R4, R2);
  a.add(R4, kArpEnd);
  a.jmp(BPF_JGT, R4, R3, "pass");
  a.ldx(BPF_H, R5, R2, kArpPtype);
  a.jmp(BPF_JNE, R5, kLoadedIpv4, "pass");
  a.ldx(BPF_W, R5, R2, kArpTpa);
  a.ja("lookup");

  // IPv6: the destination address decides; for a group, an NS or NA's target.
  a.label("ipv6");
  a.mov(R4, R2);
  a.add(R4, kIpv6End);
  a.jmp(BPF_JGT, R4, R3, "pass");
  lookup6(a, kIpv6Daddr, addresses6_map_fd);
  a.jmp(BPF_JNE, R0, 0, "redirect");
  // The call forgot the packet pointers and their bounds: load and check again.
  a.ldx(BPF_W, R2, R6, kMdData);
  a.ldx(BPF_W, R3, R6, kMdDataEnd);
  a.mov(R4, R2);
  a.add(R4, kNdTargetEnd);
  a.jmp(BPF_JGT, R4, R3, "pass");
  a.ldx(BPF_B, R5, R2, kIpv6Daddr);
  a.jmp(BPF_JNE, R5, 0xff, "pass");
  a.ldx(BPF_B, R5, R2, kIpv6NextHeader);
  a.jmp(BPF_JNE, R5, kIpprotoIcmpv6, "pass");
  a.ldx(BPF_B, R5, R2, kIcmpv6Type);
  a.jmp(BPF_JEQ, R5, kNeighborSolicit, "nd");
  a.jmp(BPF_JNE, R5, kNeighborAdvert, "pass");
  a.label("nd");
  lookup6(a, kNdTarget, addresses6_map_fd);
  a.jmp(BPF_JNE, R0, 0, "redirect");
  a.ja("pass");

  a.label("ipv4");
  a.mov(R4, R2);
  a.add(R4, kIpv4End);
  a.jmp(BPF_JGT, R4, R3, "pass");
  a.ldx(BPF_W, R5, R2, kIpv4Daddr);

  // Is r5 one of ours? The key goes on the stack for the lookup.
  a.label("lookup");
  a.stx(BPF_W, R10, -4, R5);
  a.mov(R2, R10);
  a.add(R2, -4);
  a.ld_map_fd(R1, addresses_map_fd);
  a.call(BPF_FUNC_map_lookup_elem);
  a.jmp(BPF_JEQ, R0, 0, "pass");

  a.label("redirect");
  redirect_and_count(a, xsk_map_fd, counters_map_fd);

  a.label("pass");
  a.mov(R0, XDP_PASS);
  a.exit();
  return a.finish(out, why);
}

bool build_shared_program(int addresses_map_fd, int xsk_map_fd, int counters_map_fd, const SharedPorts& ports,
                          std::vector<bpf_insn>* out, std::string* why) {
  // The fragment-offset field as a little-endian load sees it: the low 5
  // bits of byte 6 and all of byte 7 of the header.
  constexpr int32_t kLoadedFragOffsetMask = 0xff1f;
  Asm a;
  a.mov(R6, R1);
  a.ldx(BPF_W, R2, R6, kMdData);
  a.ldx(BPF_W, R3, R6, kMdDataEnd);
  a.mov(R4, R2);
  a.add(R4, kIpv4End);
  a.jmp(BPF_JGT, R4, R3, "pass");
  a.ldx(BPF_H, R5, R2, kEthType);
  a.jmp(BPF_JNE, R5, kLoadedIpv4, "pass");
  // TCP or UDP, and no later fragment (those carry no ports: the kernel's).
  a.ldx(BPF_B, R5, R2, kIpv4Proto);
  a.jmp(BPF_JEQ, R5, IPPROTO_TCP, "l4");
  a.jmp(BPF_JNE, R5, IPPROTO_UDP, "pass");
  a.label("l4");
  a.mov(R8, R5);  // the protocol, kept across the lookup
  a.ldx(BPF_H, R5, R2, kIpv4FragOff);
  a.and_(R5, kLoadedFragOffsetMask);
  a.jmp(BPF_JNE, R5, 0, "pass");
  // Is the destination ours?
  a.ldx(BPF_W, R5, R2, kIpv4Daddr);
  a.stx(BPF_W, R10, -4, R5);
  a.mov(R2, R10);
  a.add(R2, -4);
  a.ld_map_fd(R1, addresses_map_fd);
  a.call(BPF_FUNC_map_lookup_elem);
  a.jmp(BPF_JEQ, R0, 0, "pass");
  // The destination port, after a header of IHL * 4 bytes (20..60).
  a.ldx(BPF_W, R2, R6, kMdData);
  a.ldx(BPF_W, R3, R6, kMdDataEnd);
  a.mov(R4, R2);
  a.add(R4, kIpv4End);
  a.jmp(BPF_JGT, R4, R3, "pass");  // again: the verifier forgets packet bounds across a call
  a.ldx(BPF_B, R5, R2, kIpv4VersionIhl);
  a.and_(R5, 0x0f);
  a.lsh(R5, 2);
  a.jmp(BPF_JLT, R5, 20, "pass");
  a.mov(R4, R2);
  a.add(R4, R5);
  a.add(R4, 14);  // r4 = the transport header
  a.mov(R5, R4);
  a.add(R5, 4);
  a.jmp(BPF_JGT, R5, R3, "pass");
  a.ldx(BPF_B, R7, R4, 2);
  a.lsh(R7, 8);
  a.ldx(BPF_B, R5, R4, 3);
  a.or_(R7, R5);  // r7 = destination port, host order
  // The stack's ephemeral range: its own connections.
  a.jmp(BPF_JLT, R7, ports.ephemeral_low, "listeners");
  a.jmp(BPF_JGT, R7, ports.ephemeral_high, "listeners");
  a.ja("redirect");
  // The stack's listening ports: key protocol << 16 | port.
  a.label("listeners");
  a.lsh(R8, 16);
  a.or_(R8, R7);
  a.stx(BPF_W, R10, -4, R8);
  a.mov(R2, R10);
  a.add(R2, -4);
  a.ld_map_fd(R1, ports.ports_map_fd);
  a.call(BPF_FUNC_map_lookup_elem);
  a.jmp(BPF_JEQ, R0, 0, "pass");

  a.label("redirect");
  redirect_and_count(a, xsk_map_fd, counters_map_fd);

  a.label("pass");
  a.mov(R0, XDP_PASS);
  a.exit();
  return a.finish(out, why);
}

}  // namespace ustack::xdp
