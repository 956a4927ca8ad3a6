// Unit tests for addon/xdp/bpf_asm.h (labels, jump offsets) and
// addon/xdp/program.h (the redirect program and the shared-address one).
// The programs run on a small eBPF interpreter of the instructions they use,
// with the helpers they call and their maps modelled; every packet access is checked against data_end, as the
// kernel's verifier would insist, so a frame of any length — every
// truncation of ARP and IPv4 frames — is run and must never read outside
// it (IPv6 frames and NS/NA to a group too); 200,000 random frames, biased
// toward what the programs read (IPv4 and IPv6), get the
// verdict a plain C++ statement of the rules gives. Built and run by
// scripts/test-native.sh; prints "N passed, N failed".
#include <linux/bpf.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "common/test_check.h"
#include "xdp/bpf_asm.h"
#include "xdp/program.h"

using namespace ustack::xdp;

namespace {

constexpr int kAddrsFd = 7;
constexpr int kXsksFd = 9;
constexpr int kCountersFd = 11;
constexpr int kPortsFd = 13;
constexpr int kAddrs6Fd = 15;

using Addr6 = std::array<uint8_t, 16>;

struct Model {
  std::set<uint32_t> ours;            // keys of the addresses map (wire order, as loaded)
  std::set<Addr6> ours6;              // keys of the IPv6 map
  std::set<uint32_t> bound_queues;    // XSKMAP entries
  std::set<uint32_t> ports;           // shared variant: protocol << 16 | port
  uint32_t rx_queue = 0;
  // What a run saw.
  bool out_of_bounds = false;
  bool bad_insn = false;
  int lookups = 0;
  uint32_t redirect_key = 0xffffffff;
  uint64_t counters[kCounterCount] = {};
};

// Runs prog over `frame` (len bytes); returns r0 at exit.
uint64_t run(const std::vector<bpf_insn>& prog, const uint8_t* frame, size_t len, Model* m) {
  uint64_t r[11] = {};
  uint8_t stack[512] = {};
  struct Ctx {
    uint32_t data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex;
  } ctx{0, 0, 0, 1, m->rx_queue, 0};
  const uint64_t kCtx = 0x10000000, kPkt = 0x20000000, kStackTop = 0x30000000 + sizeof stack;
  const uint64_t kMapA = 0x40000000, kMapX = 0x50000000, kMapC = 0x70000000, kMapP = 0x90000000, kMapA6 = 0xa0000000;
  const uint64_t kCounterMem = 0x80000000;  // counters[i] at kCounterMem + 8 * i
  r[1] = kCtx;
  r[10] = kStackTop;
  auto load = [&](uint64_t addr, int size, uint64_t* out) {
    if (addr >= kCtx && addr + size <= kCtx + sizeof ctx) {
      uint32_t off = static_cast<uint32_t>(addr - kCtx);
      if (size != 4) return false;
      if (off == 0) *out = kPkt;
      else if (off == 4) *out = kPkt + len;
      else std::memcpy(out, reinterpret_cast<uint8_t*>(&ctx) + off, 4);
      return true;
    }
    if (addr >= kPkt && addr < kPkt + 0x1000000) {
      if (addr + size > kPkt + len) {
        m->out_of_bounds = true;
        return false;
      }
      uint64_t v = 0;
      std::memcpy(&v, frame + (addr - kPkt), size);
      *out = v;
      return true;
    }
    if (addr >= kStackTop - sizeof stack && addr + size <= kStackTop) {
      uint64_t v = 0;
      std::memcpy(&v, stack + (addr - (kStackTop - sizeof stack)), size);
      *out = v;
      return true;
    }
    return false;
  };
  auto sizeof_op = [](uint8_t code) { return (code & 0x18) == BPF_B ? 1 : (code & 0x18) == BPF_H ? 2 : (code & 0x18) == BPF_W ? 4 : 8; };
  for (size_t pc = 0, steps = 0; pc < prog.size() && steps < 10000; pc++, steps++) {
    const bpf_insn& i = prog[pc];
    uint8_t cls = i.code & 0x07;
    uint64_t& dst = r[i.dst_reg];
    uint64_t src = (i.code & BPF_X) ? r[i.src_reg] : static_cast<uint64_t>(static_cast<int64_t>(i.imm));
    if (i.code == (BPF_LD | BPF_DW | BPF_IMM)) {
      if (i.src_reg != BPF_PSEUDO_MAP_FD || pc + 1 >= prog.size()) {
        m->bad_insn = true;
        return ~0ull;
      }
      dst = i.imm == kAddrsFd    ? kMapA
            : i.imm == kXsksFd   ? kMapX
            : i.imm == kCountersFd ? kMapC
            : i.imm == kPortsFd  ? kMapP
            : i.imm == kAddrs6Fd ? kMapA6
                                 : 0;
      pc++;
      continue;
    }
    if (cls == BPF_ALU64) {
      switch (i.code & 0xf0) {
        case BPF_MOV: dst = src; break;
        case BPF_ADD: dst += src; break;
        case BPF_AND: dst &= src; break;
        case BPF_OR: dst |= src; break;
        case BPF_LSH: dst <<= (src & 63); break;
        default: m->bad_insn = true; return ~0ull;
      }
      continue;
    }
    if (cls == BPF_LDX) {
      uint64_t v;
      if (!load(r[i.src_reg] + i.off, sizeof_op(i.code), &v)) {
        if (!m->out_of_bounds) m->bad_insn = true;
        return ~0ull;
      }
      dst = v;
      continue;
    }
    if (i.code == (BPF_STX | BPF_ATOMIC | BPF_DW)) {
      uint64_t addr = dst + i.off;
      if (i.imm != BPF_ADD || addr < kCounterMem || addr >= kCounterMem + 8 * kCounterCount || (addr - kCounterMem) % 8 != 0) {
        m->bad_insn = true;
        return ~0ull;
      }
      m->counters[(addr - kCounterMem) / 8] += r[i.src_reg];
      continue;
    }
    if (cls == BPF_STX) {
      uint64_t addr = dst + i.off;
      int size = sizeof_op(i.code);
      if (!(addr >= kStackTop - sizeof stack && addr + size <= kStackTop)) {
        m->bad_insn = true;
        return ~0ull;
      }
      std::memcpy(stack + (addr - (kStackTop - sizeof stack)), &r[i.src_reg], size);
      continue;
    }
    if (cls == BPF_JMP) {
      uint8_t op = i.code & 0xf0;
      if (op == BPF_EXIT) return r[0];
      if (op == BPF_CALL) {
        if (i.imm == BPF_FUNC_map_lookup_elem && r[1] == kMapA) {
          m->lookups++;
          uint64_t key;
          if (!load(r[2], 4, &key)) {
            m->bad_insn = true;
            return ~0ull;
          }
          r[0] = m->ours.count(static_cast<uint32_t>(key)) ? 0x60000000 : 0;
        } else if (i.imm == BPF_FUNC_map_lookup_elem && r[1] == kMapA6) {
          m->lookups++;
          uint64_t lo, hi;
          if (!load(r[2], 8, &lo) || !load(r[2] + 8, 8, &hi)) {
            m->bad_insn = true;
            return ~0ull;
          }
          Addr6 key;
          std::memcpy(key.data(), &lo, 8);
          std::memcpy(key.data() + 8, &hi, 8);
          r[0] = m->ours6.count(key) ? 0x60000000 : 0;
        } else if (i.imm == BPF_FUNC_map_lookup_elem && r[1] == kMapP) {
          uint64_t key;
          if (!load(r[2], 4, &key)) {
            m->bad_insn = true;
            return ~0ull;
          }
          r[0] = m->ports.count(static_cast<uint32_t>(key)) ? 0x60000000 : 0;
        } else if (i.imm == BPF_FUNC_map_lookup_elem && r[1] == kMapC) {
          uint64_t key;
          if (!load(r[2], 4, &key)) {
            m->bad_insn = true;
            return ~0ull;
          }
          key &= 0xffffffff;
          r[0] = key < kCounterCount ? kCounterMem + 8 * key : 0;
        } else if (i.imm == BPF_FUNC_redirect_map && r[1] == kMapX) {
          m->redirect_key = static_cast<uint32_t>(r[2]);
          r[0] = m->bound_queues.count(static_cast<uint32_t>(r[2])) ? static_cast<uint64_t>(XDP_REDIRECT) : (r[3] & 0xff);
        } else {
          m->bad_insn = true;
          return ~0ull;
        }
        for (int k = 1; k <= 5; k++) r[k] = 0xdeadbeef;  // calls clobber r1-r5
        continue;
      }
      bool take;
      switch (op) {
        case BPF_JA: take = true; break;
        case BPF_JEQ: take = dst == src; break;
        case BPF_JNE: take = dst != src; break;
        case BPF_JGT: take = dst > src; break;
        case BPF_JLT: take = dst < src; break;
        default: m->bad_insn = true; return ~0ull;
      }
      if (take) pc += i.off;
      continue;
    }
    m->bad_insn = true;
    return ~0ull;
  }
  m->bad_insn = true;
  return ~0ull;
}

uint32_t wire(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  uint8_t bytes[4] = {a, b, c, d};
  uint32_t v;
  std::memcpy(&v, bytes, 4);
  return v;
}

std::vector<uint8_t> eth(uint16_t type, size_t payload) {
  std::vector<uint8_t> f(14 + payload, 0);
  std::memset(f.data(), 0xff, 6);
  f[6] = 2;
  f[12] = static_cast<uint8_t>(type >> 8);
  f[13] = static_cast<uint8_t>(type);
  return f;
}

std::vector<uint8_t> arp(const uint8_t tpa[4], uint16_t ptype = 0x0800) {
  std::vector<uint8_t> f = eth(0x0806, 28);
  f[14] = 0; f[15] = 1;  // Ethernet
  f[16] = static_cast<uint8_t>(ptype >> 8);
  f[17] = static_cast<uint8_t>(ptype);
  f[18] = 6; f[19] = 4; f[20] = 0; f[21] = 1;
  std::memcpy(&f[38], tpa, 4);
  return f;
}

std::vector<uint8_t> ipv4(const uint8_t daddr[4], size_t payload = 8) {
  std::vector<uint8_t> f = eth(0x0800, 20 + payload);
  f[14] = 0x45;
  std::memcpy(&f[30], daddr, 4);
  return f;
}

Addr6 a6(std::initializer_list<uint16_t> words) {
  Addr6 a{};
  size_t k = 0;
  for (uint16_t w : words) {
    a[k++] = static_cast<uint8_t>(w >> 8);
    a[k++] = static_cast<uint8_t>(w);
  }
  return a;
}

// An IPv6 frame to `dst` with next header `nh` and `payload` bytes after the fixed header.
std::vector<uint8_t> ipv6(const Addr6& dst, uint8_t nh, size_t payload = 8) {
  std::vector<uint8_t> f = eth(0x86dd, 40 + payload);
  f[14] = 0x60;
  f[18] = static_cast<uint8_t>(payload >> 8);
  f[19] = static_cast<uint8_t>(payload);
  f[20] = nh;
  f[21] = 255;
  std::memcpy(&f[38], dst.data(), 16);
  return f;
}

// An ICMPv6 message of `type` to `dst`; for NS/NA (24 bytes) the target address.
std::vector<uint8_t> icmp6(const Addr6& dst, uint8_t type, const Addr6& target) {
  std::vector<uint8_t> f = ipv6(dst, 58, 24);
  f[54] = type;
  std::memcpy(&f[62], target.data(), 16);
  return f;
}

Addr6 solicited(const Addr6& a) {
  Addr6 g = a6({0xff02, 0, 0, 0, 0, 1, 0xff00, 0});
  g[13] = a[13];
  g[14] = a[14];
  g[15] = a[15];
  return g;
}

std::vector<bpf_insn> program() {
  std::vector<bpf_insn> p;
  std::string why;
  CHECK(build_redirect_program(kAddrsFd, kAddrs6Fd, kXsksFd, kCountersFd, &p, &why));
  CHECK(why.empty());
  return p;
}

void test_assembler() {
  Asm a;
  a.jmp(BPF_JEQ, R1, 0, "end");
  a.mov(R0, 1);
  a.ja("end");
  a.label("end");
  a.exit();
  std::vector<bpf_insn> out;
  std::string why;
  CHECK(a.finish(&out, &why));
  CHECK(out.size() == 4);
  CHECK(out[0].off == 2);  // from the instruction after it, to index 3
  CHECK(out[2].off == 0);
  CHECK(out[0].code == (BPF_JMP | BPF_JEQ | BPF_K));

  Asm missing;
  missing.ja("nowhere");
  CHECK(!missing.finish(&out, &why));
  CHECK(why.find("nowhere") != std::string::npos);

  Asm twice;
  twice.label("x");
  twice.exit();
  twice.label("x");
  CHECK(!twice.finish(&out, &why));

  Asm map;
  map.ld_map_fd(R1, 42);
  CHECK(map.finish(&out, &why));
  CHECK(out.size() == 2);
  CHECK(out[0].src_reg == BPF_PSEUDO_MAP_FD && out[0].imm == 42 && out[1].code == 0);
}

// The program's shape: what the verifier looks at first.
void test_shape() {
  std::vector<bpf_insn> p = program();
  CHECK(!p.empty() && p.back().code == (BPF_JMP | BPF_EXIT));
  CHECK(p.size() < 128);
  for (size_t pc = 0; pc < p.size(); pc++) {
    uint8_t cls = p[pc].code & 0x07;
    uint8_t op = p[pc].code & 0xf0;
    if (cls == BPF_JMP && op != BPF_CALL && op != BPF_EXIT) {
      long target = static_cast<long>(pc) + 1 + p[pc].off;
      CHECK(target > static_cast<long>(pc) && target < static_cast<long>(p.size()));  // forward only: no loops
    }
    if (p[pc].code == (BPF_STX | BPF_ATOMIC | BPF_DW)) CHECK(p[pc].imm == BPF_ADD);
    if (cls == BPF_LDX && p[pc].src_reg == R2) {
      int size = (p[pc].code & 0x18) == BPF_B ? 1 : (p[pc].code & 0x18) == BPF_H ? 2 : 4;
      CHECK((2 + p[pc].off) % size == 0);  // aligned for NET_IP_ALIGN
    }
  }
}

void test_decisions() {
  std::vector<bpf_insn> p = program();
  const uint8_t ours[4] = {10, 20, 0, 2};
  const uint8_t kernels[4] = {10, 20, 0, 1};
  Model m;
  m.ours.insert(wire(10, 20, 0, 2));
  m.bound_queues.insert(0);
  auto verdict = [&](const std::vector<uint8_t>& f, uint32_t queue = 0) {
    m.rx_queue = queue;
    m.redirect_key = 0xffffffff;
    return run(p, f.data(), f.size(), &m);
  };
  CHECK(verdict(arp(ours)) == XDP_REDIRECT);
  CHECK(verdict(arp(kernels)) == XDP_PASS);
  CHECK(verdict(arp(ours, 0x86dd)) == XDP_PASS);  // not IPv4 ARP
  CHECK(verdict(ipv4(ours)) == XDP_REDIRECT);
  CHECK(m.redirect_key == 0);
  CHECK(verdict(ipv4(kernels)) == XDP_PASS);
  CHECK(verdict(eth(0x86dd, 60)) == XDP_PASS);  // IPv6: the kernel's for now
  CHECK(verdict(eth(0x8100, 60)) == XDP_PASS);  // VLAN-tagged: the kernel's
  // A queue without a socket: the fallback is XDP_PASS, and the key is the receiving queue.
  CHECK(verdict(ipv4(ours), 3) == XDP_PASS);
  CHECK(m.redirect_key == 3);
  // Counted: two ARP + two IPv4 redirected so far, one on a queue without a socket; passes of others not at all.
  CHECK(m.counters[kRedirected] == 2);
  CHECK(m.counters[kNoSocketOnQueue] == 1);
  // A new address, and one removed.
  m.ours.insert(wire(10, 20, 0, 1));
  CHECK(verdict(ipv4(kernels)) == XDP_REDIRECT);
  m.ours.clear();
  CHECK(verdict(ipv4(ours)) == XDP_PASS);
  CHECK(!m.bad_insn && !m.out_of_bounds);
}

// IPv6: the destination decides, or for an NS/NA to a group its target; the
// rest (the kernel's addresses, echo to all-nodes, ND behind an extension
// header) is the kernel's. ff02::1 as a key gives the stack the whole group.
void test_ipv6_decisions() {
  std::vector<bpf_insn> p = program();
  const Addr6 ours = a6({0xfd00, 0x11, 0, 0, 0, 0, 0, 2});
  const Addr6 ll = a6({0xfe80, 0, 0, 0, 0x1234, 0x5678, 0x9abc, 0xdef0});
  const Addr6 kernels = a6({0xfd00, 0x11, 0, 0, 0, 0, 0, 1});
  const Addr6 kernels_same_group = a6({0xfd00, 0x22, 0, 0, 0, 0, 0, 2});  // shares ours' solicited-node group
  const Addr6 all_nodes = a6({0xff02, 0, 0, 0, 0, 0, 0, 1});
  Model m;
  m.ours6 = {ours, ll};
  m.bound_queues.insert(0);
  auto verdict = [&](const std::vector<uint8_t>& f) { return run(p, f.data(), f.size(), &m); };
  CHECK(verdict(ipv6(ours, 58)) == XDP_REDIRECT);          // echo, anything to our address
  CHECK(verdict(ipv6(ll, 17)) == XDP_REDIRECT);
  CHECK(verdict(ipv6(ours, 44)) == XDP_REDIRECT);          // fragments too
  CHECK(verdict(ipv6(kernels, 58)) == XDP_PASS);
  CHECK(verdict(icmp6(solicited(ours), 135, ours)) == XDP_REDIRECT);  // NS for us (resolution, DAD)
  CHECK(verdict(icmp6(solicited(ours), 135, kernels_same_group)) == XDP_PASS);  // the same group, the kernel's target
  CHECK(verdict(icmp6(all_nodes, 136, ours)) == XDP_REDIRECT);        // NA defending our address (DAD)
  CHECK(verdict(icmp6(all_nodes, 136, kernels)) == XDP_PASS);
  CHECK(verdict(icmp6(all_nodes, 134, ours)) == XDP_PASS);            // an RA: the kernel's unless the stack takes all-nodes
  CHECK(verdict(icmp6(all_nodes, 128, ours)) == XDP_PASS);            // echo to all-nodes
  CHECK(verdict(icmp6(kernels, 135, ours)) == XDP_PASS);              // an NS to someone else's unicast address
  std::vector<uint8_t> behind_hbh = icmp6(solicited(ours), 135, ours);
  behind_hbh[20] = 0;  // a hop-by-hop header in front: the program does not walk it
  CHECK(verdict(behind_hbh) == XDP_PASS);
  CHECK(verdict(eth(0x86dd, 40)) == XDP_PASS);  // to ::
  m.ours6.insert(all_nodes);
  CHECK(verdict(icmp6(all_nodes, 134, ours)) == XDP_REDIRECT);
  CHECK(verdict(icmp6(all_nodes, 128, ours)) == XDP_REDIRECT);
  m.ours6.clear();
  CHECK(verdict(ipv6(ours, 58)) == XDP_PASS);
  CHECK(m.counters[kRedirected] == 7);
  CHECK(!m.bad_insn && !m.out_of_bounds);
}

// Every truncation of every kind of frame: never a read past data_end, and
// a frame too short to decide is passed to the kernel.
void test_truncations() {
  std::vector<bpf_insn> p = program();
  const uint8_t ours[4] = {10, 20, 0, 2};
  Model m;
  m.ours.insert(wire(10, 20, 0, 2));
  m.bound_queues.insert(0);
  const Addr6 ours6 = a6({0xfd00, 0x11, 0, 0, 0, 0, 0, 2});
  m.ours6.insert(ours6);
  const std::vector<uint8_t> frames[] = {arp(ours), ipv4(ours), ipv6(ours6, 58), icmp6(solicited(ours6), 135, ours6)};
  int bad = 0;
  for (const auto& full : frames) {
    bool to_group = full[13] == 0xdd && full[38] == 0xff;
    for (size_t len = 0; len <= full.size(); len++) {
      Model t = m;
      uint64_t v = run(p, full.data(), len, &t);
      bool complete = (full[13] == 0x06 && len >= 42) || (full[13] == 0x00 && len >= 34) ||
                      (full[13] == 0xdd && len >= (to_group ? 78u : 54u));
      if (t.out_of_bounds || t.bad_insn) bad++;
      if (!complete && v != XDP_PASS) bad++;
      if (complete && v != XDP_REDIRECT) bad++;
    }
  }
  CHECK(bad == 0);
}

std::vector<bpf_insn> shared_program() {
  std::vector<bpf_insn> p;
  std::string why;
  SharedPorts ports;
  ports.ports_map_fd = kPortsFd;
  ports.ephemeral_low = 61000;
  ports.ephemeral_high = 65535;
  CHECK(build_shared_program(kAddrsFd, kXsksFd, kCountersFd, ports, &p, &why));
  CHECK(why.empty());
  return p;
}

// An IPv4 TCP/UDP/ICMP frame: header of ihl words (options zero), transport
// header with the destination port, fragment field as given.
std::vector<uint8_t> l4(const uint8_t daddr[4], uint8_t proto, uint16_t dport, int ihl = 5, uint16_t frag = 0) {
  std::vector<uint8_t> f = eth(0x0800, ihl * 4 + 20);
  f[14] = static_cast<uint8_t>(0x40 | ihl);
  f[20] = static_cast<uint8_t>(frag >> 8);
  f[21] = static_cast<uint8_t>(frag);
  f[23] = proto;
  std::memcpy(&f[30], daddr, 4);
  size_t t = 14 + ihl * 4;
  f[t] = 0xc3;  // source port 50000
  f[t + 1] = 0x50;
  f[t + 2] = static_cast<uint8_t>(dport >> 8);
  f[t + 3] = static_cast<uint8_t>(dport);
  return f;
}

void test_shared_decisions() {
  std::vector<bpf_insn> p = shared_program();
  const uint8_t ours[4] = {10, 20, 0, 1};
  const uint8_t other[4] = {10, 20, 0, 9};
  Model m;
  m.ours.insert(wire(10, 20, 0, 1));
  m.bound_queues.insert(0);
  m.ports.insert((6u << 16) | 80);
  m.ports.insert((17u << 16) | 53);
  auto verdict = [&](const std::vector<uint8_t>& f) { return run(p, f.data(), f.size(), &m); };
  CHECK(verdict(l4(ours, 6, 80)) == XDP_REDIRECT);    // a TCP listener
  CHECK(verdict(l4(ours, 17, 53)) == XDP_REDIRECT);   // a UDP one
  CHECK(verdict(l4(ours, 17, 80)) == XDP_PASS);       // TCP's port, but UDP
  CHECK(verdict(l4(ours, 6, 22)) == XDP_PASS);        // the kernel's ssh
  CHECK(verdict(l4(ours, 6, 61000)) == XDP_REDIRECT); // the stack's ephemeral range, both ends
  CHECK(verdict(l4(ours, 17, 65535)) == XDP_REDIRECT);
  CHECK(verdict(l4(ours, 6, 60999)) == XDP_PASS);     // the kernel's ephemeral range
  CHECK(verdict(l4(other, 6, 80)) == XDP_PASS);       // not our address
  CHECK(verdict(l4(ours, 1, 80)) == XDP_PASS);        // ICMP: the kernel's
  CHECK(verdict(arp(ours)) == XDP_PASS);              // ARP: the kernel's
  CHECK(verdict(l4(ours, 6, 80, 7)) == XDP_REDIRECT); // options: the port after 28 bytes
  CHECK(verdict(l4(ours, 6, 80, 4)) == XDP_PASS);     // IHL below 5: malformed, the kernel's to drop
  CHECK(verdict(l4(ours, 17, 53, 5, 0x2000)) == XDP_REDIRECT);  // first fragment (MF)
  CHECK(verdict(l4(ours, 17, 53, 5, 0x00b9)) == XDP_PASS);      // a later fragment: no ports
  CHECK(verdict(l4(ours, 17, 53, 5, 0x4000)) == XDP_REDIRECT);  // DF alone
  CHECK(m.counters[kRedirected] == 7);
  CHECK(!m.bad_insn && !m.out_of_bounds);
}

void test_shared_truncations() {
  std::vector<bpf_insn> p = shared_program();
  const uint8_t ours[4] = {10, 20, 0, 1};
  Model m;
  m.ours.insert(wire(10, 20, 0, 1));
  m.bound_queues.insert(0);
  m.ports.insert((6u << 16) | 80);
  int bad = 0;
  for (int ihl : {5, 6, 15}) {
    std::vector<uint8_t> full = l4(ours, 6, 80, ihl);
    for (size_t len = 0; len <= full.size(); len++) {
      Model t = m;
      uint64_t v = run(p, full.data(), len, &t);
      bool complete = len >= static_cast<size_t>(14 + ihl * 4 + 4);
      if (t.out_of_bounds || t.bad_insn) bad++;
      if (complete != (v == XDP_REDIRECT)) bad++;
    }
  }
  CHECK(bad == 0);
}

// The rules of program.h, written plainly: what each program must decide.
bool reference_redirect(const std::vector<uint8_t>& f, const Model& m) {
  auto u32 = [&](size_t at) { uint32_t v; std::memcpy(&v, &f[at], 4); return v; };
  if (f.size() < 14) return false;
  if (f[12] == 0x08 && f[13] == 0x06) return f.size() >= 42 && f[16] == 0x08 && f[17] == 0x00 && m.ours.count(u32(38));
  if (f[12] == 0x08 && f[13] == 0x00) return f.size() >= 34 && m.ours.count(u32(30));
  if (f[12] == 0x86 && f[13] == 0xdd) {
    auto addr = [&](size_t at) {
      Addr6 a;
      std::memcpy(a.data(), &f[at], 16);
      return a;
    };
    if (f.size() < 54) return false;
    if (m.ours6.count(addr(38))) return true;
    return f.size() >= 78 && f[38] == 0xff && f[20] == 58 && (f[54] == 135 || f[54] == 136) && m.ours6.count(addr(62));
  }
  return false;
}

bool reference_shared(const std::vector<uint8_t>& f, const Model& m, uint16_t eph_lo, uint16_t eph_hi) {
  if (f.size() < 34 || f[12] != 0x08 || f[13] != 0x00) return false;
  uint8_t proto = f[23];
  if (proto != 6 && proto != 17) return false;
  if (((f[20] & 0x1f) << 8 | f[21]) != 0) return false;
  uint32_t daddr;
  std::memcpy(&daddr, &f[30], 4);
  if (!m.ours.count(daddr)) return false;
  size_t ihl = (f[14] & 0x0f) * 4u;
  if (ihl < 20 || f.size() < 14 + ihl + 4) return false;
  uint16_t port = static_cast<uint16_t>(f[14 + ihl + 2] << 8 | f[14 + ihl + 3]);
  return (port >= eph_lo && port <= eph_hi) || m.ports.count(static_cast<uint32_t>(proto) << 16 | port);
}

// Random frames, biased toward what the programs look at (EtherTypes,
// protocols, our address, our ports, small IHLs, fragment bits): every
// verdict equals the reference's and no run reads outside the frame.
void test_random_frames() {
  std::vector<bpf_insn> redirect = program();
  std::vector<bpf_insn> shared = shared_program();
  Model m;
  m.ours.insert(wire(10, 20, 0, 1));
  m.bound_queues.insert(0);
  m.ports.insert((6u << 16) | 80);
  m.ports.insert((17u << 16) | 53);
  const Addr6 ours6 = a6({0xfd00, 0x11, 0, 0, 0, 0, 0, 1});
  const Addr6 group6 = solicited(ours6);
  m.ours6.insert(ours6);
  uint64_t x = 0x9e3779b97f4a7c15ull;
  auto rnd = [&]() {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  int mismatches = 0, faults = 0, redirected = 0, redirected_shared = 0, redirected6 = 0;
  for (int i = 0; i < 200000; i++) {
    std::vector<uint8_t> f(rnd() % 2 ? 34 + rnd() % 60 : rnd() % 90);
    for (auto& b : f) b = static_cast<uint8_t>(rnd());
    auto put = [&](size_t at, std::initializer_list<uint8_t> bytes) {
      size_t k = at;
      for (uint8_t b : bytes) {
        if (k < f.size()) f[k] = b;
        k++;
      }
    };
    bool v6 = rnd() % 3 == 0;
    if (v6) {
      put(12, {0x86, 0xdd});
      const Addr6& dst = rnd() % 2 ? ours6 : group6;
      if (rnd() % 4 != 0) for (size_t k = 0; k < 16; k++) put(38 + k, {dst[k]});
      if (rnd() % 4 != 0) put(20, {58});
      if (rnd() % 4 != 0) put(54, {static_cast<uint8_t>(rnd() % 2 ? 135 : 136)});
      if (rnd() % 3 != 0) for (size_t k = 0; k < 16; k++) put(62 + k, {ours6[k]});
    } else if (rnd() % 4 != 0) put(12, {0x08, static_cast<uint8_t>(rnd() % 2 ? 0x00 : 0x06)});
    if (!v6 && rnd() % 2) put(16, {0x08, 0x00});
    if (!v6 && rnd() % 4 != 0) put(30, {10, 20, 0, 1});
    if (!v6 && rnd() % 2) put(38, {10, 20, 0, 1});
    if (!v6 && rnd() % 2) put(14, {static_cast<uint8_t>(0x45 + rnd() % 3)});
    if (!v6 && rnd() % 4 != 0) put(20, {static_cast<uint8_t>(rnd() % 2 ? 0x40 : 0x00), 0});
    if (!v6 && rnd() % 4 != 0) put(23, {static_cast<uint8_t>(rnd() % 2 ? 6 : 17)});
    if (!v6 && rnd() % 4 != 0) {
      size_t t = 14 + (f.size() > 14 ? (f[14] & 0x0f) * 4u : 20);
      uint16_t port = rnd() % 3 == 0 ? 80 : rnd() % 2 ? 53 : static_cast<uint16_t>(60990 + rnd() % 20);
      put(t + 2, {static_cast<uint8_t>(port >> 8), static_cast<uint8_t>(port)});
    }
    Model a = m, b = m;
    bool want = reference_redirect(f, m);
    bool got = run(redirect, f.data(), f.size(), &a) == XDP_REDIRECT;
    if (want != got) mismatches++;
    bool want_s = reference_shared(f, m, 61000, 65535);
    bool got_s = run(shared, f.data(), f.size(), &b) == XDP_REDIRECT;
    if (want_s != got_s) mismatches++;
    redirected += got;
    redirected6 += got && f.size() >= 14 && f[12] == 0x86 && f[13] == 0xdd;
    redirected_shared += got_s;
    if (a.out_of_bounds || a.bad_insn || b.out_of_bounds || b.bad_insn) faults++;
  }
  CHECK(mismatches == 0);
  CHECK(faults == 0);
  // Both verdicts well represented: the comparison means something.
  std::printf("random frames: %d of 200000 redirected (%d IPv6), %d in shared mode\n", redirected, redirected6,
              redirected_shared);
  CHECK(redirected > 5000 && redirected < 195000);
  CHECK(redirected6 > 2000 && redirected6 < 60000);
  CHECK(redirected_shared > 2000 && redirected_shared < 195000);
}

}  // namespace

int main() {
  test_assembler();
  test_shape();
  test_decisions();
  test_ipv6_decisions();
  test_truncations();
  test_shared_decisions();
  test_shared_truncations();
  test_random_frames();
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
