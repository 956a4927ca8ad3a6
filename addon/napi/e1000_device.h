// E1000Device: the JavaScript class over addon/e1000 (src/driver/addon.ts
// declares its surface), and the process-wide e1000 functions.
//
// new E1000Device(pciAddr, access: 'uio'|'vfio', options) opens and programs
// the NIC (RX/TX off). `pool` is the DMA slot memory as one external
// ArrayBuffer (detached on close). start(freeStack) fills the RX ring from the
// shared free-slot stack (Uint32Array: [count, slot...]) and enables RX/TX.
// rxBurst/txBurst move one burst per call. Wake-up: a poll on the UIO / VFIO
// interrupt fd, one-shot per armWake() (PolledDevice).
#pragma once
#include <napi.h>

#include <string>

#include "e1000/e1000.h"
#include "napi/buffers.h"
#include "napi/polled_device.h"

namespace ustack::napi {

class E1000Device : public PolledDevice<E1000Device> {
 public:
  static Napi::Function Define(Napi::Env env);

  explicit E1000Device(const Napi::CallbackInfo& info);
  ~E1000Device() override { CloseAll(); }

 private:
  friend class PolledDevice<E1000Device>;

  // PolledDevice hooks.
  bool IsOpen() const { return dev_.is_open(); }
  // The interrupt fired: mask and acknowledge it before JavaScript runs.
  void OnWakeUp() { dev_.on_irq(); }

  Napi::Value GetPool(const Napi::CallbackInfo& info);
  Napi::Value GetSlotSize(const Napi::CallbackInfo& info);
  Napi::Value GetTso(const Napi::CallbackInfo& info);
  Napi::Value GetSlotCount(const Napi::CallbackInfo& info);
  Napi::Value GetMac(const Napi::CallbackInfo& info);
  Napi::Value GetModel(const Napi::CallbackInfo& info);
  Napi::Value GetDeviceId(const Napi::CallbackInfo& info);
  Napi::Value GetMemory(const Napi::CallbackInfo& info);

  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value RxBurst(const Napi::CallbackInfo& info);
  Napi::Value TxBurst(const Napi::CallbackInfo& info);
  Napi::Value TxReclaim(const Napi::CallbackInfo& info);
  Napi::Value LinkUp(const Napi::CallbackInfo& info);
  Napi::Value ReadReg(const Napi::CallbackInfo& info);
  Napi::Value SetMulticast(const Napi::CallbackInfo& info);
  Napi::Value ArmWake(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value StopDma(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  bool CheckOpen(Napi::Env env);
  bool FreeStackUsable(Napi::Env env);
  // Closes the poll, takes the device off the registry and frees it (DMA stopped first).
  void CloseAll();

  // USTACK_E1000_TIMING=1 in the environment when the device is opened: the
  // time spent inside rxBurst/txBurst/txReclaim/armWake (N-API entry to
  // return, BAR0 traps included) is summed here, for the VM test's
  // JavaScript-versus-native accounting. Off by default: two clock reads a call.
  bool timing_ = false;
  // rx (calls that took frames), tx, reclaim, arm, rx calls that found none (waiting).
  uint64_t native_ns_[5] = {0, 0, 0, 0, 0};
  uint64_t native_calls_[5] = {0, 0, 0, 0, 0};
  friend class NativeTimer;

  std::string addr_;
  ustack::e1000::Device dev_;
  Napi::Reference<Napi::ArrayBuffer> pool_ref_;
  HeldBuffer free_stack_;  // the driver keeps its address: checked before every call (FreeStackUsable)
};

// e1000StopAll(), e1000StopEnv(), e1000SupportedDevice(vendor, device): see e1000_device.cc.
Napi::Value E1000StopAll(const Napi::CallbackInfo& info);
Napi::Value E1000StopEnv(const Napi::CallbackInfo& info);
Napi::Value E1000SupportedDevice(const Napi::CallbackInfo& info);

// Installs, once per environment, the hook that stops the devices this
// environment opened when it ends (before their finalizers free the DMA memory).
void WatchEnvironment(Napi::Env env);

}  // namespace ustack::napi
