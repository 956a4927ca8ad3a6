// ShmPort: the JavaScript class over addon/shm's Port (src/driver/addon.ts
// declares its surface): a worker process's end of the shared rings.
//
// new ShmPort({ fd, place, wakeFd, ownerWakeFd }) maps the region the
// worker inherited (fd), checks its header and attaches to the place's
// rings; wakeFd is the eventfd the owner writes when it queues something
// while this worker sleeps (the PolledDevice poll), ownerWakeFd the one this
// worker writes for the owner. `pool` is the whole slot pool as one external
// ArrayBuffer: owner slots (received frames) and this worker's own
// partition (frames it builds to send). start(freeStack) attaches the
// partition's free stack (Uint32Array [count, slot...], empty at first: the
// owner's first returns fill it). rxBurst/txBurst/release/flow move one
// burst per call; each call wakes the owner when it sleeps.
#pragma once
#include <napi.h>

#include <memory>

#include "napi/buffers.h"
#include "napi/polled_device.h"
#include "shm/port.h"
#include "shm/region.h"

namespace ustack::napi {

class ShmPort : public PolledDevice<ShmPort> {
 public:
  static Napi::Function Define(Napi::Env env);

  explicit ShmPort(const Napi::CallbackInfo& info);
  ~ShmPort() override { CloseAll(); }

 private:
  friend class PolledDevice<ShmPort>;

  bool IsOpen() const { return region_ != nullptr; }
  void OnWakeUp();

  Napi::Value GetPool(const Napi::CallbackInfo& info);
  Napi::Value GetSlotSize(const Napi::CallbackInfo& info);
  Napi::Value GetSlotCount(const Napi::CallbackInfo& info);
  Napi::Value GetFirstSlot(const Napi::CallbackInfo& info);
  Napi::Value GetOwnSlots(const Napi::CallbackInfo& info);
  Napi::Value GetPlace(const Napi::CallbackInfo& info);

  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value RxBurst(const Napi::CallbackInfo& info);
  Napi::Value TxBurst(const Napi::CallbackInfo& info);
  Napi::Value Release(const Napi::CallbackInfo& info);
  Napi::Value Flow(const Napi::CallbackInfo& info);
  Napi::Value SteersHere(const Napi::CallbackInfo& info);
  Napi::Value ArmWake(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  bool CheckOpen(Napi::Env env);
  // Points the port at the free stack's memory for this call (JavaScript can
  // detach it between calls); false with an error pending.
  bool AttachStack(Napi::Env env);
  void Publish();
  void CloseAll();

  std::unique_ptr<ustack::shm::Region> region_;
  ustack::shm::Port port_;
  int wake_fd_ = -1;
  int owner_wake_fd_ = -1;
  HeldBuffer free_stack_;
  uint32_t stack_cap_ = 0;
  Napi::Reference<Napi::ArrayBuffer> pool_ref_;
};

}  // namespace ustack::napi
