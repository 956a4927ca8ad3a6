// Devices that must stop DMA before their memory goes away: when the
// JavaScript environment (the main thread or a worker_thread) that opened
// them ends, and when the process exits. Plain C++, no N-API: the
// environment is an opaque key.
//
// One list for the process, under a mutex: any thread may open, close or stop
// devices, and the exit path stops every device while worker threads may
// still be using theirs. The list grows as needed (no fixed bound). stop
// callbacks run with the lock held, so a device cannot be removed (and then
// freed) while it is being stopped; they must not call back into the
// registry.
#pragma once
#include <cstddef>
#include <mutex>
#include <vector>

namespace ustack::registry {

using StopFn = void (*)(void* device);

class DeviceRegistry {
 public:
  void add(const void* env, void* device, StopFn stop);
  // Idempotent; call before freeing the device.
  void remove(void* device);
  // Stops the devices `env` opened (they stay listed until removed). Returns how many.
  size_t stop_env(const void* env);
  // Stops every device of every environment. Returns how many.
  size_t stop_all();
  size_t count(const void* env);

  // Environment teardown hooks: true the first time for an environment (the
  // caller then installs its hook), false while one is installed. An addon
  // loaded twice into one environment runs its init twice; node aborts on a
  // second identical cleanup hook.
  bool watch_env(const void* env);
  void unwatch_env(const void* env);

 private:
  struct Entry {
    const void* env;
    void* device;
    StopFn stop;
  };
  std::mutex mu_;
  std::vector<Entry> entries_;
  std::vector<const void*> watched_;
};

// The process-wide registry.
DeviceRegistry& devices();

}  // namespace ustack::registry
