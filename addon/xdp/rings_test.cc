// Unit tests for addon/xdp/rings.h (the AF_XDP ring index arithmetic) and
// the chunk layout of addon/xdp/xdp.h, with ordinary memory standing in for
// the kernel's side: indices that wrap past 2^32, full and empty rings,
// cached indices read again only when needed, hostile producer and consumer indices.
// Built and run by scripts/test-native.sh; prints "N passed, N failed".
#include <cstdint>
#include <cstdio>
#include <vector>

#include "common/test_check.h"
#include "xdp/rings.h"
#include "xdp/xdp.h"

using namespace ustack::xdp;

namespace {

struct FakeRing {
  uint32_t producer = 0, consumer = 0, flags = 0;
  std::vector<uint64_t> entries;
  explicit FakeRing(uint32_t size, uint32_t start) : producer(start), consumer(start), entries(size) {}
  RingMemory memory() {
    RingMemory m;
    m.producer = &producer;
    m.consumer = &consumer;
    m.flags = &flags;
    m.entries = entries.data();
    m.size = static_cast<uint32_t>(entries.size());
    return m;
  }
};

// We produce (fill ring), a model kernel consumes, across the 2^32 wrap.
void test_producer_wrap() {
  FakeRing r(8, 0xfffffffau);
  ProducerRing<uint64_t> p;
  p.attach(r.memory());
  CHECK(p.free(8) == 8);
  uint64_t next = 100, expect = 100;
  int bad = 0;
  for (int round = 0; round < 50; round++) {
    uint32_t n = p.free(5);
    uint32_t k = n < 5 ? n : 5;
    for (uint32_t i = 0; i < k; i++) p.at(i) = next++;
    p.submit(k);
    if (r.producer - r.consumer > 8) bad++;  // never more than a ring outstanding
    // The kernel takes 3 per round.
    for (int i = 0; i < 3 && r.consumer != r.producer; i++) {
      if (r.entries[r.consumer & 7] != expect++) bad++;
      r.consumer++;
    }
  }
  CHECK(bad == 0);
  CHECK(r.producer < 0x100u);  // it wrapped
  CHECK(p.outstanding() == r.producer - r.consumer);
}

// Full ring: nothing free until the kernel consumes; the cached consumer is
// read again only when the cache says there is not enough room.
void test_producer_full() {
  FakeRing r(4, 7);
  ProducerRing<uint64_t> p;
  p.attach(r.memory());
  for (uint32_t i = 0; i < 4; i++) p.at(i) = i;
  p.submit(4);
  CHECK(p.free(1) == 0);
  r.consumer += 2;
  CHECK(p.free(1) == 2);
  r.consumer += 2;
  CHECK(p.free(1) == 2);  // the cache had room: not read again
  CHECK(p.free(4) == 4);
  r.flags = 1;
  CHECK(p.needs_wakeup());
  r.flags = 0;
  CHECK(!p.needs_wakeup());
}

// We consume (RX ring), a model kernel produces, across the wrap.
void test_consumer_wrap() {
  FakeRing r(16, 0xfffffff0u);
  ConsumerRing<uint64_t> c;
  c.attach(r.memory());
  CHECK(c.available(32) == 0);
  CHECK(c.empty_now());
  uint64_t produced = 0, seen = 0;
  int bad = 0;
  for (int round = 0; round < 40; round++) {
    for (int i = 0; i < 7 && r.producer - r.consumer < 16; i++) r.entries[r.producer++ & 15] = produced++;
    uint32_t n = c.available(5);
    if (n > 5) bad++;
    for (uint32_t i = 0; i < n; i++) {
      if (c.at(i) != seen++) bad++;
    }
    c.release(n);
    if (r.consumer != static_cast<uint32_t>(0xfffffff0u + seen)) bad++;
  }
  CHECK(bad == 0);
  CHECK(seen > 100);
}

// A consumer index ahead of our producer, or more than a ring behind it
// (corrupt or hostile), reads as a full ring: nothing is written over
// entries the kernel has not taken.
void test_producer_hostile() {
  FakeRing r(8, 0);
  ProducerRing<uint64_t> p;
  p.attach(r.memory());
  for (uint32_t i = 0; i < 4; i++) p.at(i) = i;
  p.submit(4);
  r.consumer = 6;  // consumed two we never produced
  CHECK(p.free(8) == 0);
  r.consumer = 0x80000000u;
  CHECK(p.free(8) == 0);
  r.consumer = 0xfffffff0u;  // more than a ring behind
  CHECK(p.free(1) == 0);
  r.consumer = 2;  // a sane view again: 8 - (4 - 2) free
  CHECK(p.free(8) == 6);
  r.consumer = 4;
  CHECK(p.free(8) == 8);
}

// A producer index more than a ring ahead (corrupt or hostile) reads as empty.
void test_consumer_hostile() {
  FakeRing r(8, 0);
  ConsumerRing<uint64_t> c;
  c.attach(r.memory());
  r.producer = 9;
  CHECK(c.available(64) == 0);
  r.producer = 0x80000000u;
  CHECK(c.available(64) == 0);
  r.producer = 3;
  CHECK(c.available(64) == 3);
}

void test_chunks() {
  CHECK(chunk_for_mtu(1500) == 2048);
  CHECK(chunk_for_mtu(1774) == 2048);   // 1774 + 18 = 1792 = 2048 - 256
  CHECK(chunk_for_mtu(1775) == 4096);
  CHECK(chunk_for_mtu(3822) == 4096);
  CHECK(chunk_for_mtu(3823) == 0);
  CHECK(chunk_for_mtu(9000) == 0);
  CHECK(frame_capacity(2048) == 1792);
}

}  // namespace

int main() {
  test_producer_wrap();
  test_producer_full();
  test_consumer_wrap();
  test_producer_hostile();
  test_consumer_hostile();
  test_chunks();
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
