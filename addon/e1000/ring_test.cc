// Unit tests for addon/e1000/ring.h (ring index arithmetic), with a tiny
// model of the hardware's head pointers. Built and run by
// scripts/test-e1000-ring.sh; prints "N passed, N failed".
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "e1000/ring.h"

namespace r = ustack::e1000::ring;

static int passed = 0, failed = 0;
#define CHECK(cond)                                                        \
  do {                                                                     \
    if (cond) {                                                            \
      passed++;                                                            \
    } else {                                                               \
      failed++;                                                            \
      std::fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                      \
  } while (0)

static void test_wrap() {
  CHECK(r::next(7, 8) == 0);
  CHECK(r::next(0, 8) == 1);
  CHECK(r::prev(0, 8) == 7);
  CHECK(r::add(6, 5, 8) == 3);
  CHECK(r::distance(6, 2, 8) == 4);
  CHECK(r::distance(2, 2, 8) == 0);
  CHECK(r::distance(0, 7, 8) == 7);
  CHECK(r::valid_ring_size(8) && r::valid_ring_size(256) && !r::valid_ring_size(12) && !r::valid_ring_size(0));
}

// RX: a model NIC that fills descriptors from RDH up to (not including) RDT,
// and a driver that processes bursts and writes RDT. RDT must never equal RDH
// after a driver write, the hardware must never run dry while the driver keeps
// up, and every frame is seen exactly once, in order, across many wraps.
static void test_rx_model() {
  const uint32_t n = 16;
  std::vector<int> dd(n, 0), seq(n, -1);
  uint32_t rdh = 0, rdt = r::rx_initial_tail(n), next = r::rx_next_to_check(rdt, n);
  CHECK(r::rx_hw_buffers(rdh, rdt, n) == n - 1);
  CHECK(next == 0);
  int sent = 0, seen = 0;
  bool order_ok = true, never_equal = true;
  unsigned rng = 12345;
  for (int round = 0; round < 5000; round++) {
    rng = rng * 1103515245 + 12345;
    int arrive = (rng >> 16) % 20;  // sometimes more than the ring holds: hardware drops (ring full)
    for (int i = 0; i < arrive; i++) {
      if (rdh == rdt) break;  // no buffers: hardware drops
      dd[rdh] = 1;
      seq[rdh] = sent++;
      rdh = r::next(rdh, n);
    }
    // Frames dropped for lack of buffers never get a sequence number here.
    uint32_t burst = (rng >> 8) % 9, k = 0, last = 0xffffffff;
    while (k < burst && dd[next]) {
      if (seq[next] != seen) order_ok = false;
      seen++;
      dd[next] = 0;
      last = next;
      next = r::next(next, n);
      k++;
    }
    if (last != 0xffffffff) {
      rdt = r::rx_tail_after(last);
      if (rdt == rdh) never_equal = false;
    }
  }
  // Drain.
  while (dd[next]) {
    if (seq[next] != seen) order_ok = false;
    seen++;
    dd[next] = 0;
    rdt = next;
    if (rdt == rdh) never_equal = false;
    next = r::next(next, n);
  }
  CHECK(order_ok);
  CHECK(never_equal);
  CHECK(seen == sent);
  CHECK(sent > 10000);
  // Ring full: the hardware stopped exactly one descriptor short of the tail.
  rdh = 5;
  rdt = 5;
  CHECK(r::rx_hw_buffers(rdh, rdt, n) == 0);
}

// TX: fill, full ring keeps one descriptor free, reclaim in order up to the
// first descriptor without DD, and wrap-around.
static void test_tx() {
  const uint32_t n = 8;
  uint32_t clean = 0, tail = 0;
  CHECK(r::tx_free(clean, tail, n) == 7);
  CHECK(!r::tx_full(clean, tail, n));
  std::vector<int> dd(n, 0);
  for (int i = 0; i < 7; i++) tail = r::next(tail, n);
  CHECK(r::tx_full(clean, tail, n));
  CHECK(tail != clean);  // TDT never catches TDH: a full ring does not read as empty
  CHECK(r::tx_in_flight(clean, tail, n) == 7);
  // Hardware completes 0..2; 3 not yet; 4 done out of order (must not be reclaimed past 3).
  dd[0] = dd[1] = dd[2] = dd[4] = 1;
  std::vector<uint32_t> freed;
  uint32_t k = r::tx_reclaim(&clean, tail, n, [&](uint32_t i) { return dd[i] != 0; }, [&](uint32_t i) { freed.push_back(i); });
  CHECK(k == 3);
  CHECK(clean == 3);
  CHECK(freed.size() == 3 && freed[0] == 0 && freed[2] == 2);
  CHECK(r::tx_free(clean, tail, n) == 3);
  // Wrap: fill 3 more (tail 7 -> 2).
  for (int i = 0; i < 3; i++) {
    dd[tail] = 0;
    tail = r::next(tail, n);
  }
  CHECK(tail == 2);
  CHECK(r::tx_full(clean, tail, n));
  for (uint32_t i = 0; i < n; i++) dd[i] = 1;
  k = r::tx_reclaim(&clean, tail, n, [&](uint32_t i) { return dd[i] != 0; }, [&](uint32_t) {});
  CHECK(k == 7);
  CHECK(clean == tail);
  CHECK(r::tx_free(clean, tail, n) == 7);
  // Reclaim on an empty ring does nothing even if stale DD bits are set.
  k = r::tx_reclaim(&clean, tail, n, [&](uint32_t) { return true; }, [&](uint32_t) {});
  CHECK(k == 0);
}

// Long random TX run: in-flight never exceeds n-1, every slot reclaimed once.
static void test_tx_random() {
  const uint32_t n = 32;
  uint32_t clean = 0, tail = 0, hw = 0;  // hw: hardware head (completes in order)
  std::vector<int> dd(n, 0), owner(n, -1);
  int next_id = 0, reclaimed = 0;
  bool ok = true;
  unsigned rng = 99;
  for (int round = 0; round < 20000; round++) {
    rng = rng * 1664525 + 1013904223;
    uint32_t want = (rng >> 20) % 12;
    for (uint32_t i = 0; i < want && !r::tx_full(clean, tail, n); i++) {
      dd[tail] = 0;
      owner[tail] = next_id++;
      tail = r::next(tail, n);
    }
    if (r::tx_in_flight(clean, tail, n) > n - 1) ok = false;
    uint32_t done = (rng >> 8) % 10;
    for (uint32_t i = 0; i < done && hw != tail; i++) {
      dd[hw] = 1;
      hw = r::next(hw, n);
    }
    r::tx_reclaim(&clean, tail, n, [&](uint32_t i) { return dd[i] != 0; }, [&](uint32_t i) {
      if (owner[i] != reclaimed) ok = false;
      reclaimed++;
      owner[i] = -1;
    });
  }
  CHECK(ok);
  CHECK(reclaimed > 1000);
}

int main() {
  test_wrap();
  test_rx_model();
  test_tx();
  test_tx_random();
  std::printf("e1000 ring: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
