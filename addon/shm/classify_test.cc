// Unit tests for addon/shm/classify.h: what steering reads from a frame.
// ARP, TCP (SYN and not), UDP, fragments, protocols without ports, ICMP echo,
// ICMP errors quoting our TCP segment (the flow turned round), IPv6; every
// truncation of each frame, each copied into a buffer of exactly that length
// (run with -fsanitize=address, a read past it faults), and random bytes.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "common/test_check.h"
#include "shm/classify.h"

using namespace ustack::shm;

namespace {

using Bytes = std::vector<uint8_t>;

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) {
  put16(p, static_cast<uint16_t>(v >> 16));
  put16(p + 2, static_cast<uint16_t>(v));
}

Bytes eth(uint16_t type, size_t payload) {
  Bytes f(14 + payload, 0);
  put16(&f[12], type);
  return f;
}

// An IPv4 frame with a header of ihl bytes and l4 bytes after it.
Bytes ipv4(uint8_t proto, uint32_t src, uint32_t dst, size_t l4, uint32_t ihl = 20, uint16_t frag = 0) {
  Bytes f = eth(0x0800, ihl + l4);
  uint8_t* ip = &f[14];
  ip[0] = static_cast<uint8_t>(0x40 | (ihl / 4));
  put16(ip + 2, static_cast<uint16_t>(ihl + l4));
  put16(ip + 6, frag);
  ip[8] = 64;
  ip[9] = proto;
  put32(ip + 12, src);
  put32(ip + 16, dst);
  return f;
}

Bytes tcp(uint32_t src, uint32_t dst, uint16_t sp, uint16_t dp, uint8_t flags, uint32_t ihl = 20) {
  Bytes f = ipv4(6, src, dst, 20, ihl);
  uint8_t* t = &f[14 + ihl];
  put16(t, sp);
  put16(t + 2, dp);
  t[12] = 5 << 4;
  t[13] = flags;
  return f;
}

// Classifies a copy of exactly `len` bytes (ASan sees any read past it).
FrameInfo classify_exact(const Bytes& f, size_t len) {
  uint8_t* p = new uint8_t[len == 0 ? 1 : len];
  if (len > 0) std::memcpy(p, f.data(), len);
  FrameInfo fi = classify(p, static_cast<uint32_t>(len));
  delete[] p;
  return fi;
}

void test_kinds() {
  Bytes arp = eth(0x0806, 28);
  CHECK(classify(arp.data(), static_cast<uint32_t>(arp.size())).kind == Kind::kArp);

  Bytes syn = tcp(0x0a000001, 0x0a000002, 40000, 80, 0x02);
  FrameInfo fi = classify(syn.data(), static_cast<uint32_t>(syn.size()));
  CHECK(fi.kind == Kind::kFlow && fi.proto == 6 && fi.syn);
  CHECK(fi.saddr == 0x0a000001 && fi.daddr == 0x0a000002 && fi.sport == 40000 && fi.dport == 80);
  Bytes synack = tcp(0x0a000001, 0x0a000002, 40000, 80, 0x12);
  CHECK(!classify(synack.data(), static_cast<uint32_t>(synack.size())).syn);
  Bytes opts = tcp(0x0a000001, 0x0a000002, 1, 2, 0x10, 24);  // IP options
  fi = classify(opts.data(), static_cast<uint32_t>(opts.size()));
  CHECK(fi.kind == Kind::kFlow && fi.sport == 1 && fi.dport == 2);

  Bytes udp = ipv4(17, 1, 2, 8);
  put16(&udp[34], 53);
  put16(&udp[36], 5353);
  fi = classify(udp.data(), static_cast<uint32_t>(udp.size()));
  CHECK(fi.kind == Kind::kFlow && fi.proto == 17 && fi.sport == 53 && fi.dport == 5353 && !fi.syn);

  Bytes frag = ipv4(17, 1, 2, 8, 20, 0x2000);  // MF: first fragment, still only the 2-tuple
  CHECK(classify(frag.data(), static_cast<uint32_t>(frag.size())).kind == Kind::kAddrOnly);
  Bytes later = ipv4(17, 1, 2, 8, 20, 100);
  CHECK(classify(later.data(), static_cast<uint32_t>(later.size())).kind == Kind::kAddrOnly);
  Bytes gre = ipv4(47, 1, 2, 8);
  CHECK(classify(gre.data(), static_cast<uint32_t>(gre.size())).kind == Kind::kAddrOnly);

  Bytes echo = ipv4(1, 1, 2, 16);
  echo[34] = 8;
  CHECK(classify(echo.data(), static_cast<uint32_t>(echo.size())).kind == Kind::kIcmp);

  // Destination unreachable quoting our segment 10.0.0.2:7 -> 10.0.0.1:40000:
  // steered like the peer's segments of that flow (source 10.0.0.1:40000).
  Bytes inner = tcp(0x0a000002, 0x0a000001, 7, 40000, 0x10);
  Bytes err = ipv4(1, 0x0a000001, 0x0a000002, 8 + 28);
  err[34] = 3;
  std::memcpy(&err[42], &inner[14], 28);
  fi = classify(err.data(), static_cast<uint32_t>(err.size()));
  CHECK(fi.kind == Kind::kIcmpError && fi.proto == 6);
  CHECK(fi.saddr == 0x0a000001 && fi.daddr == 0x0a000002 && fi.sport == 40000 && fi.dport == 7);

  Bytes v6 = eth(0x86dd, 40);
  CHECK(classify(v6.data(), static_cast<uint32_t>(v6.size())).kind == Kind::kNotIpv4);
  Bytes vlan = eth(0x8100, 40);
  CHECK(classify(vlan.data(), static_cast<uint32_t>(vlan.size())).kind == Kind::kNotIpv4);
  Bytes bad_ihl = ipv4(6, 1, 2, 20);
  bad_ihl[14] = 0x43;  // IHL 12 bytes
  CHECK(classify(bad_ihl.data(), static_cast<uint32_t>(bad_ihl.size())).kind == Kind::kMalformed);
}

void test_truncations() {
  std::vector<Bytes> frames;
  frames.push_back(eth(0x0806, 28));
  frames.push_back(tcp(1, 2, 3, 4, 0x02));
  frames.push_back(tcp(1, 2, 3, 4, 0x02, 60));
  Bytes udp = ipv4(17, 1, 2, 8);
  frames.push_back(udp);
  Bytes inner = tcp(2, 1, 7, 9, 0x10);
  Bytes err = ipv4(1, 1, 2, 8 + 28);
  err[34] = 11;
  std::memcpy(&err[42], &inner[14], 28);
  frames.push_back(err);
  int wrong = 0;
  for (const Bytes& f : frames) {
    FrameInfo full = classify_exact(f, f.size());
    for (size_t len = 0; len <= f.size(); len++) {
      FrameInfo fi = classify_exact(f, len);
      // A truncated frame is malformed or a coarser kind, never a flow with ports it did not have.
      if (fi.kind == Kind::kFlow && len < f.size() && full.kind == Kind::kFlow && (fi.sport != full.sport)) wrong++;
    }
  }
  CHECK(wrong == 0);
  CHECK(classify_exact(frames[1], 13).kind == Kind::kMalformed);
  CHECK(classify_exact(frames[1], 14 + 19).kind == Kind::kMalformed);
  CHECK(classify_exact(frames[1], 14 + 20 + 13).kind == Kind::kMalformed);
  CHECK(classify_exact(frames[1], 14 + 20 + 14).kind == Kind::kFlow);
  // A quote too short for the ports: plain ICMP (the designated worker).
  CHECK(classify_exact(frames[4], 14 + 20 + 8 + 20 + 3).kind == Kind::kIcmp);
}

void test_random_bytes() {
  std::mt19937 rng(7);
  int n = 0;
  for (int i = 0; i < 200000; i++) {
    size_t len = rng() % 120;
    Bytes f(len);
    for (auto& b : f) b = static_cast<uint8_t>(rng());
    if (len >= 14 && rng() % 2) put16(&f[12], 0x0800);
    if (len >= 15 && rng() % 2) f[14] = static_cast<uint8_t>(0x45 + rng() % 11);
    if (len >= 22 && rng() % 2) f[20] = f[21] = 0;  // not a fragment
    static const uint8_t kProtos[] = {1, 6, 17};
    if (len >= 24 && rng() % 2) f[23] = kProtos[rng() % 3];
    FrameInfo fi = classify_exact(f, len);
    n += fi.kind == Kind::kFlow;
  }
  CHECK(n > 0);  // the generator reaches the flow path
}

}  // namespace

int main() {
  test_kinds();
  test_truncations();
  test_random_bytes();
  std::printf("classify: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
