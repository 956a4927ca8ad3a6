// VirtioDevice: the JavaScript class over addon/virtio (src/driver/addon.ts
// declares its surface), and virtioSupportedDevice().
//
// new VirtioDevice(pciAddr, access: 'uio'|'vfio', options) opens the device,
// negotiates features and sets up its queues (not live yet). `pool` is the
// DMA slot memory as one external ArrayBuffer (detached on close).
// start(freeStack) fills the receive queues from the shared free-slot stack
// (Uint32Array: [count, slot...]) and sets DRIVER_OK. rxBurst/txBurst move
// one burst per call, on one queue pair or all of them. Wake-up: a poll on
// the UIO / VFIO INTx fd, one-shot per armWake() (PolledDevice). The device
// is on the process-wide registry: e1000StopAll()/e1000StopEnv() (the
// exit paths of every userspace PCI NIC) reset it too.
#pragma once
#include <napi.h>

#include <string>

#include "napi/buffers.h"
#include "napi/polled_device.h"
#include "virtio/virtio_net.h"

namespace ustack::napi {

class VirtioDevice : public PolledDevice<VirtioDevice> {
 public:
  static Napi::Function Define(Napi::Env env);

  explicit VirtioDevice(const Napi::CallbackInfo& info);
  ~VirtioDevice() override { CloseAll(); }

 private:
  friend class PolledDevice<VirtioDevice>;

  // PolledDevice hooks.
  bool IsOpen() const { return dev_.is_open(); }
  // The interrupt fired: acknowledge it and suppress the next ones before JavaScript runs.
  void OnWakeUp() { dev_.on_irq(); }

  Napi::Value GetPool(const Napi::CallbackInfo& info);
  Napi::Value GetSlotSize(const Napi::CallbackInfo& info);
  Napi::Value GetSlotCount(const Napi::CallbackInfo& info);
  Napi::Value GetMac(const Napi::CallbackInfo& info);
  Napi::Value GetMacFromDevice(const Napi::CallbackInfo& info);
  Napi::Value GetModel(const Napi::CallbackInfo& info);
  Napi::Value GetDeviceId(const Napi::CallbackInfo& info);
  Napi::Value GetMemory(const Napi::CallbackInfo& info);
  Napi::Value GetQueuePairs(const Napi::CallbackInfo& info);
  Napi::Value GetMaxQueuePairs(const Napi::CallbackInfo& info);
  Napi::Value GetQueueSize(const Napi::CallbackInfo& info);
  Napi::Value GetFeatures(const Napi::CallbackInfo& info);
  Napi::Value GetOfferedFeatures(const Napi::CallbackInfo& info);
  Napi::Value GetOffloads(const Napi::CallbackInfo& info);
  Napi::Value GetStatus(const Napi::CallbackInfo& info);

  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value RxBurst(const Napi::CallbackInfo& info);
  Napi::Value TxBurst(const Napi::CallbackInfo& info);
  Napi::Value TxReclaim(const Napi::CallbackInfo& info);
  Napi::Value TakeCompleted(const Napi::CallbackInfo& info);
  Napi::Value TxOutstanding(const Napi::CallbackInfo& info);
  Napi::Value SlotDeviceAddress(const Napi::CallbackInfo& info);
  Napi::Value LinkUp(const Napi::CallbackInfo& info);
  Napi::Value SetMulticast(const Napi::CallbackInfo& info);
  Napi::Value ArmWake(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value StopDma(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  bool CheckOpen(Napi::Env env);
  bool FreeStackUsable(Napi::Env env);
  // The optional queue argument at info[i]: -1 (all) when absent; false with a RangeError pending when out of range.
  bool QueueArg(const Napi::CallbackInfo& info, size_t i, int* queue);
  // Closes the poll, takes the device off the registry and frees it (DMA stopped first).
  void CloseAll();

  std::string addr_;
  const char* model_ = "";
  ustack::virtio::Device dev_;
  Napi::Reference<Napi::ArrayBuffer> pool_ref_;
  HeldBuffer free_stack_;  // the driver keeps its address: checked before every call (FreeStackUsable)
};

// virtioSupportedDevice(vendor, device): the model name, or null.
Napi::Value VirtioSupportedDevice(const Napi::CallbackInfo& info);

}  // namespace ustack::napi
