#include "registry/device_registry.h"

#include <algorithm>

namespace ustack::registry {

void DeviceRegistry::add(const void* env, void* device, StopFn stop) {
  std::lock_guard<std::mutex> lk(mu_);
  for (Entry& e : entries_) {
    if (e.device == device) {
      e.env = env;
      e.stop = stop;
      return;
    }
  }
  entries_.push_back({env, device, stop});
}

void DeviceRegistry::remove(void* device) {
  std::lock_guard<std::mutex> lk(mu_);
  entries_.erase(std::remove_if(entries_.begin(), entries_.end(), [device](const Entry& e) { return e.device == device; }),
                 entries_.end());
}

size_t DeviceRegistry::stop_env(const void* env) {
  std::lock_guard<std::mutex> lk(mu_);
  size_t n = 0;
  for (const Entry& e : entries_) {
    if (e.env == env) {
      e.stop(e.device);
      n++;
    }
  }
  return n;
}

size_t DeviceRegistry::stop_all() {
  std::lock_guard<std::mutex> lk(mu_);
  for (const Entry& e : entries_) e.stop(e.device);
  return entries_.size();
}

size_t DeviceRegistry::count(const void* env) {
  std::lock_guard<std::mutex> lk(mu_);
  return static_cast<size_t>(std::count_if(entries_.begin(), entries_.end(), [env](const Entry& e) { return e.env == env; }));
}

bool DeviceRegistry::watch_env(const void* env) {
  std::lock_guard<std::mutex> lk(mu_);
  if (std::find(watched_.begin(), watched_.end(), env) != watched_.end()) return false;
  watched_.push_back(env);
  return true;
}

void DeviceRegistry::unwatch_env(const void* env) {
  std::lock_guard<std::mutex> lk(mu_);
  watched_.erase(std::remove(watched_.begin(), watched_.end(), env), watched_.end());
}

DeviceRegistry& devices() {
  // Never destroyed: static destructors run at exit, and a worker thread or
  // an exit hook may still reach the registry then.
  static DeviceRegistry* r = new DeviceRegistry();
  return *r;
}

}  // namespace ustack::registry
