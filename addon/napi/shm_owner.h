// ShmOwner: the JavaScript class over addon/shm's Owner (src/driver/addon.ts
// declares its surface): the process that drives the device creates the
// shared region, steers received frames to workers by slot index and takes
// back the frames they send.
//
// new ShmOwner({ slotSize, places, homeWorkers, ownerSlots, workerSlots,
// rxQuota, flowCapacity }) creates the sealed memfd region. `pool` is the
// slot memory as one external ArrayBuffer (the device's pool too); `fd` the
// memfd and addWorker(place) the place's wake-up eventfd, both handed to the
// worker process (it inherits them). The owner's own wake-up — workers
// write one eventfd when they queue something while it sleeps — is the
// PolledDevice poll; armWake() says whether something already waits.
// Every call that queues frames for a worker writes that worker's eventfd
// when it sleeps (the ring handshake in shm/ring.h).
#pragma once
#include <napi.h>

#include <memory>
#include <vector>

#include "napi/buffers.h"
#include "napi/polled_device.h"
#include "shm/owner.h"
#include "shm/region.h"

namespace ustack::napi {

class ShmOwner : public PolledDevice<ShmOwner> {
 public:
  static Napi::Function Define(Napi::Env env);

  explicit ShmOwner(const Napi::CallbackInfo& info);
  ~ShmOwner() override { CloseAll(); }

 private:
  friend class PolledDevice<ShmOwner>;

  // PolledDevice hooks.
  bool IsOpen() const { return region_ != nullptr; }
  void OnWakeUp();

  Napi::Value GetPool(const Napi::CallbackInfo& info);
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value GetWakeFd(const Napi::CallbackInfo& info);
  Napi::Value GetSlotSize(const Napi::CallbackInfo& info);
  Napi::Value GetSlotCount(const Napi::CallbackInfo& info);
  Napi::Value GetOwnerSlots(const Napi::CallbackInfo& info);
  Napi::Value GetWorkerSlots(const Napi::CallbackInfo& info);
  Napi::Value GetPlaces(const Napi::CallbackInfo& info);
  Napi::Value GetFreeSlots(const Napi::CallbackInfo& info);
  Napi::Value GetUmemPage(const Napi::CallbackInfo& info);

  Napi::Value TakeRx(const Napi::CallbackInfo& info);
  Napi::Value Steer(const Napi::CallbackInfo& info);
  Napi::Value TxBatch(const Napi::CallbackInfo& info);
  Napi::Value TxDone(const Napi::CallbackInfo& info);
  Napi::Value TxSent(const Napi::CallbackInfo& info);
  Napi::Value TakeLocal(const Napi::CallbackInfo& info);
  Napi::Value Deliver(const Napi::CallbackInfo& info);
  Napi::Value GiveBack(const Napi::CallbackInfo& info);
  Napi::Value QueueTx(const Napi::CallbackInfo& info);
  Napi::Value AddWorker(const Napi::CallbackInfo& info);
  Napi::Value SetLive(const Napi::CallbackInfo& info);
  Napi::Value RemoveWorker(const Napi::CallbackInfo& info);
  Napi::Value Reta(const Napi::CallbackInfo& info);
  Napi::Value ArmWake(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Census(const Napi::CallbackInfo& info);
  Napi::Value Trace(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  bool CheckOpen(Napi::Env env);
  // A place argument in [0, places): false with a RangeError pending.
  bool PlaceArg(const Napi::CallbackInfo& info, size_t i, uint32_t* w);
  // Writes the eventfd of every worker the owner owes a wake-up.
  void WakeWorkers();
  // Safe from the finalizer: touches only libuv and file descriptors.
  void CloseAll();

  std::unique_ptr<ustack::shm::Region> region_;
  std::unique_ptr<ustack::shm::Owner> owner_;
  int wake_fd_ = -1;                 // workers -> owner
  std::vector<int> worker_fds_;      // owner -> worker, per place (made at its first addWorker)
  Napi::Reference<Napi::ArrayBuffer> pool_ref_;
  std::vector<uint8_t> flags_;       // steer's copied receive flags
  std::vector<uint32_t> tmp_slots_, tmp_lens_;
  std::vector<uint8_t> tmp_from_;
};

}  // namespace ustack::napi
