// Unit tests for addon/shm/ring.h, the SPSC rings between owner and workers:
// index arithmetic across the 2^32 wrap, full and empty rings, cached
// indices read again only when needed, hostile indices from the other side
// (a buggy or dead worker), the sleep/wake handshake, and two threads
// moving a million entries through a small ring with eventfd wake-ups
// (nothing lost, nothing duplicated, every sleep woken).
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

#include "common/test_check.h"
#include "shm/ring.h"

using namespace ustack::shm;

namespace {

struct TestRing {
  RingHeader h{};
  std::vector<Entry> e;
  explicit TestRing(uint32_t size, uint32_t start) : e(size) {
    h.producer = start;
    h.consumer = start;
  }
};

void test_wrap() {
  TestRing r(8, 0xfffffffau);
  RingProducer p;
  RingConsumer c;
  p.attach(&r.h, r.e.data(), 8);
  c.attach(&r.h, r.e.data(), 8);
  uint32_t next = 1, expect = 1;
  int bad = 0;
  for (int round = 0; round < 100; round++) {
    uint32_t n = p.free(5);
    uint32_t k = n < 5 ? n : 5;
    for (uint32_t i = 0; i < k; i++) p.at(i) = Entry{next++, 0, 0, 0};
    p.submit(k);
    if (r.h.producer - r.h.consumer > 8) bad++;
    uint32_t m = c.available(3);
    for (uint32_t i = 0; i < m; i++) {
      if (c.at(i).w0 != expect++) bad++;
    }
    c.release(m);
  }
  CHECK(bad == 0);
  CHECK(r.h.producer < 0x1000u);  // it wrapped
  CHECK(p.outstanding() == r.h.producer - r.h.consumer);
}

void test_full_and_cache() {
  TestRing r(4, 7);
  RingProducer p;
  RingConsumer c;
  p.attach(&r.h, r.e.data(), 4);
  c.attach(&r.h, r.e.data(), 4);
  CHECK(p.free(1) == 4);
  for (uint32_t i = 0; i < 4; i++) p.at(i) = Entry{i, 0, 0, 0};
  p.submit(4);
  CHECK(p.free(1) == 0);
  CHECK(c.available(10) == 4);
  c.release(2);
  CHECK(p.free(1) == 2);
  c.release(2);
  CHECK(p.free(1) == 2);  // the cache had room: the consumer index not read again
  CHECK(p.free(4) == 4);
  CHECK(c.available(10) == 0);
}

// A consumer index ahead of what was produced, or a producer index more than
// a ring ahead: counted, and read as full / empty; nothing outside the array.
void test_hostile_indices() {
  TestRing r(8, 100);
  RingProducer p;
  RingConsumer c;
  p.attach(&r.h, r.e.data(), 8);
  c.attach(&r.h, r.e.data(), 8);
  for (uint32_t i = 0; i < 8; i++) p.at(i) = Entry{i, 0, 0, 0};
  p.submit(8);
  r.h.consumer = 500;  // past the producer
  CHECK(p.free(1) == 0);
  CHECK(p.bad_index() == 1);
  r.h.consumer = 100;
  r.h.producer = 100 + 9;  // a ring and one ahead
  CHECK(c.available(100) == 0);
  CHECK(c.bad_index() == 1);
  r.h.producer = 100 + 8;
  CHECK(c.available(100) == 8);
}

// The sleep handshake: prepare_sleep refuses when entries wait; a producer
// sees the flag exactly once per sleep.
void test_sleep_handshake() {
  TestRing r(8, 0);
  RingProducer p;
  RingConsumer c;
  p.attach(&r.h, r.e.data(), 8);
  c.attach(&r.h, r.e.data(), 8);
  CHECK(!p.wake_needed());
  CHECK(c.prepare_sleep());
  CHECK(r.h.sleeping == 1);
  p.at(0) = Entry{1, 0, 0, 0};
  p.submit(1);
  CHECK(p.wake_needed());
  CHECK(!p.wake_needed());  // cleared: one wake-up per sleep
  CHECK(!c.prepare_sleep());  // an entry waits
  CHECK(r.h.sleeping == 0);
  CHECK(c.available(8) == 1);
  c.release(1);
  CHECK(c.prepare_sleep());
  c.awake();
  CHECK(r.h.sleeping == 0);
}

// Two threads, a 16-entry ring, 1,000,000 entries, each side sleeping on an
// eventfd when it finds nothing to do: every entry arrives once, in order.
void test_threads() {
  TestRing r(16, 0xfffff000u);
  int wake_consumer = eventfd(0, 0);
  const uint32_t kTotal = 1000000;
  std::atomic<uint64_t> sleeps{0};
  std::thread consumer([&] {
    RingConsumer c;
    c.attach(&r.h, r.e.data(), 16);
    uint32_t expect = 0;
    uint64_t errors = 0;
    while (expect < kTotal) {
      uint32_t n = c.available(16);
      if (n == 0) {
        if (c.prepare_sleep()) {
          uint64_t v;
          (void)!read(wake_consumer, &v, sizeof v);
          sleeps++;
        }
        continue;
      }
      for (uint32_t i = 0; i < n; i++) {
        if (c.at(i).w0 != expect) errors++;
        expect++;
      }
      c.release(n);
    }
    CHECK(errors == 0);
  });
  RingProducer p;
  p.attach(&r.h, r.e.data(), 16);
  uint32_t next = 0;
  while (next < kTotal) {
    uint32_t n = p.free(1);
    if (n == 0) {
      std::this_thread::yield();
      continue;
    }
    uint32_t k = n < 7 ? n : 7;
    if (k > kTotal - next) k = kTotal - next;
    for (uint32_t i = 0; i < k; i++) p.at(i) = Entry{next++, 0, 0, 0};
    p.submit(k);
    if (p.wake_needed()) {
      uint64_t one = 1;
      (void)!write(wake_consumer, &one, sizeof one);
    }
  }
  consumer.join();
  close(wake_consumer);
  std::printf("  threads: %llu consumer sleeps over %u entries\n", static_cast<unsigned long long>(sleeps.load()), kTotal);
  CHECK(r.h.producer == r.h.consumer);
}

}  // namespace

int main() {
  test_wrap();
  test_full_and_cache();
  test_hostile_indices();
  test_sleep_handshake();
  test_threads();
  std::printf("shm rings: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
