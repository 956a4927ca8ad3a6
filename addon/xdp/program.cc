#include "xdp/program.h"

#include "xdp/bpf_asm.h"

namespace ustack::xdp {

namespace {

// EtherTypes as a little-endian 2-byte load of the big-endian field sees them.
constexpr int32_t kLoadedIpv4 = 0x0008;  // 08 00
constexpr int32_t kLoadedArp = 0x0608;   // 08 06

}  // namespace

bool build_redirect_program(int addresses_map_fd, int xsk_map_fd, int counters_map_fd, std::vector<bpf_insn>* out,
                            std::string* why) {
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
  a.jmp(BPF_JNE, R5, kLoadedArp, "pass");

  // ARP for IPv4: the target address decides.
  a.mov(R4, R2);
  a.add(R4, kArpEnd);
  a.jmp(BPF_JGT, R4, R3, "pass");
  a.ldx(BPF_H, R5, R2, kArpPtype);
  a.jmp(BPF_JNE, R5, kLoadedIpv4, "pass");
  a.ldx(BPF_W, R5, R2, kArpTpa);
  a.ja("lookup");

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

  // bpf_redirect_map(xsks, ctx->rx_queue_index, XDP_PASS)
  a.ldx(BPF_W, R2, R6, kMdRxQueueIndex);
  a.ld_map_fd(R1, xsk_map_fd);
  a.mov(R3, XDP_PASS);
  a.call(BPF_FUNC_redirect_map);

  // Count the verdict: counters[r0 == XDP_REDIRECT ? kRedirected : kNoSocketOnQueue] += 1.
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

  a.label("pass");
  a.mov(R0, XDP_PASS);
  a.exit();
  return a.finish(out, why);
}

}  // namespace ustack::xdp
