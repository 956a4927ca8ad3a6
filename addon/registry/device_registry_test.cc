// Unit tests for addon/registry/device_registry.h: devices stopped per
// environment and all at once, no fixed bound, and stop_all() racing threads
// that add and remove devices. Built and run by scripts/test-native.sh and
// test/unit/native-lifetime.test.ts; prints "N passed, N failed".
#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include "registry/device_registry.h"
#include "common/test_check.h"

using ustack::registry::DeviceRegistry;


struct FakeDevice {
  std::atomic<int> stops{0};
};

static void stop_fake(void* d) { static_cast<FakeDevice*>(d)->stops++; }

static void test_per_env() {
  DeviceRegistry r;
  int env_a = 0, env_b = 0;  // any distinct addresses serve as environment keys
  std::vector<FakeDevice> a(40), b(25);
  for (auto& d : a) r.add(&env_a, &d, stop_fake);
  for (auto& d : b) r.add(&env_b, &d, stop_fake);
  CHECK(r.count(&env_a) == 40 && r.count(&env_b) == 25);  // well past the old 16-slot table

  CHECK(r.stop_env(&env_b) == 25);
  bool a_untouched = true, b_stopped = true;
  for (auto& d : a) a_untouched = a_untouched && d.stops == 0;
  for (auto& d : b) b_stopped = b_stopped && d.stops == 1;
  CHECK(a_untouched);
  CHECK(b_stopped);

  CHECK(r.stop_all() == 65);
  bool all_once_more = true;
  for (auto& d : a) all_once_more = all_once_more && d.stops == 1;
  for (auto& d : b) all_once_more = all_once_more && d.stops == 2;
  CHECK(all_once_more);

  for (auto& d : b) r.remove(&d);
  r.remove(&b[0]);  // idempotent
  CHECK(r.count(&env_b) == 0);
  CHECK(r.stop_env(&env_b) == 0);
  CHECK(r.stop_all() == 40);
  CHECK(b[0].stops == 2);  // removed devices are never stopped again

  // Adding a device again moves it (one entry per device).
  r.add(&env_b, &a[0], stop_fake);
  CHECK(r.count(&env_a) == 39 && r.count(&env_b) == 1);
}

static void test_watch() {
  DeviceRegistry r;
  int env = 0;
  CHECK(r.watch_env(&env));
  CHECK(!r.watch_env(&env));  // a second init in the same environment installs no second hook
  r.unwatch_env(&env);
  CHECK(r.watch_env(&env));
}

// stop_all() (an exit path) while other threads open and close devices: every
// device listed when it runs is stopped, none after its removal.
static void test_concurrent() {
  DeviceRegistry r;
  constexpr int kThreads = 4, kRounds = 2000;
  std::atomic<bool> go{false}, done{false};
  std::atomic<int> after_remove{0};
  struct Guarded {
    std::atomic<int> stops{0};
    std::atomic<bool> removed{false};
  };
  static std::atomic<int>* after_remove_p = nullptr;
  after_remove_p = &after_remove;
  auto stop_guarded = [](void* d) {
    Guarded* g = static_cast<Guarded*>(d);
    if (g->removed) (*after_remove_p)++;
    g->stops++;
  };
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; t++) {
    ts.emplace_back([&, t] {
      int env = t;
      while (!go) {
      }
      for (int i = 0; i < kRounds; i++) {
        Guarded g;
        r.add(&env, &g, stop_guarded);
        r.remove(&g);
        g.removed = true;
      }
    });
  }
  go = true;
  std::thread stopper([&] {
    while (!done) r.stop_all();
  });
  for (auto& t : ts) t.join();
  done = true;
  stopper.join();
  CHECK(after_remove == 0);
  CHECK(r.stop_all() == 0);
}

int main() {
  test_per_env();
  test_watch();
  test_concurrent();
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
