// Unit tests for addon/shm/flow_table.h: inserts, lookups, moves, erases
// (by key, only by the owning worker, every flow of a worker) against a
// std::map model under random churn with colliding hashes, so backward-shift
// deletion keeps every entry reachable; the three-quarters bound.
#include <cstdint>
#include <cstdio>
#include <map>
#include <random>
#include <tuple>

#include "common/test_check.h"
#include "shm/flow_table.h"

using namespace ustack::shm;

namespace {

using Model = std::map<std::tuple<uint32_t, uint32_t, uint16_t, uint16_t, uint8_t>, uint8_t>;

auto tup(const FlowKey& k) { return std::make_tuple(k.raddr, k.laddr, k.rport, k.lport, k.proto); }

void test_basic() {
  FlowTable t;
  t.init(8);
  FlowKey a{1, 2, 3, 4, 6}, b{1, 2, 3, 5, 6};
  CHECK(t.lookup(a, 7) == FlowTable::kNone);
  CHECK(t.insert(a, 7, 1));
  CHECK(t.insert(b, 7, 2));  // same hash: probes on
  CHECK(t.lookup(a, 7) == 1);
  CHECK(t.lookup(b, 7) == 2);
  CHECK(t.insert(a, 7, 3));  // moves
  CHECK(t.lookup(a, 7) == 3);
  CHECK(t.size() == 2);
  CHECK(!t.erase(a, 7, 1));  // not pinned to 1
  CHECK(t.erase(a, 7, 3));
  CHECK(t.lookup(b, 7) == 2);  // still reachable after the hole
  for (uint16_t i = 0; i < 5; i++) CHECK(t.insert(FlowKey{9, 9, i, i, 6}, i, 0));
  CHECK(t.size() == 6);
  CHECK(!t.insert(FlowKey{9, 9, 99, 99, 6}, 0, 0));  // 7 of 8 would pass three quarters
  CHECK(t.erase_worker(0) == 5);
  CHECK(t.size() == 1);
  CHECK(t.lookup(b, 7) == 2);
}

void test_churn_against_model() {
  FlowTable t;
  t.init(1024);
  Model m;
  std::mt19937 rng(42);
  int bad = 0;
  for (int step = 0; step < 200000; step++) {
    FlowKey k{static_cast<uint32_t>(rng() % 4), 1, static_cast<uint16_t>(rng() % 300), 80, 6};
    uint32_t h = (k.raddr * 31 + k.rport) % 97;  // few distinct hashes: long probe runs
    uint8_t w = static_cast<uint8_t>(rng() % 4);
    switch (rng() % 5) {
      case 0:
      case 1:
        if (t.insert(k, h, w)) m[tup(k)] = w;
        else if (m.count(tup(k)) != 0) bad++;  // an existing key always updates
        break;
      case 2: {
        bool want = m.count(tup(k)) != 0 && m[tup(k)] == w;
        if (t.erase(k, h, w) != want) bad++;
        if (want) m.erase(tup(k));
        break;
      }
      case 3: {
        auto it = m.find(tup(k));
        if (t.lookup(k, h) != (it == m.end() ? FlowTable::kNone : it->second)) bad++;
        break;
      }
      default:
        if (rng() % 500 == 0) {
          uint32_t n = t.erase_worker(w);
          uint32_t want = 0;
          for (auto it = m.begin(); it != m.end();) {
            if (it->second == w) {
              it = m.erase(it);
              want++;
            } else {
              ++it;
            }
          }
          if (n != want) bad++;
        }
    }
    if (t.size() != m.size()) bad++;
  }
  // Everything the model has is found.
  for (const auto& [key, w] : m) {
    FlowKey k{std::get<0>(key), std::get<1>(key), std::get<2>(key), std::get<3>(key), std::get<4>(key)};
    if (t.lookup(k, (k.raddr * 31 + k.rport) % 97) != w) bad++;
  }
  CHECK(bad == 0);
}

}  // namespace

int main() {
  test_basic();
  test_churn_against_model();
  std::printf("flow table: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
