// TapDevice: the JavaScript class over addon/tap (src/driver/addon.ts
// declares its surface). new TapDevice(name, { offloads? }) creates or
// attaches the TAP device; attachPool() hands it the packet memory;
// readBurst/writeBurst move one burst of frames per call (with offloads each
// frame's virtio_net_hdr is built and read here: vnet_hdr/); the wake-up is
// a poll on the TAP fd (PolledDevice).
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

#include "napi/buffers.h"
#include "napi/polled_device.h"
#include "tap/tap.h"

namespace ustack::napi {

class TapDevice : public PolledDevice<TapDevice> {
 public:
  static Napi::Function Define(Napi::Env env);

  explicit TapDevice(const Napi::CallbackInfo& info);
  ~TapDevice() override { CloseAll(); }

 private:
  friend class PolledDevice<TapDevice>;

  // PolledDevice hooks.
  bool IsOpen() const { return fd_ >= 0; }
  void OnWakeError(int status);

  // The device was deleted under us (counters_.gone_errno): the fd stays open
  // until close(), but nothing polls it any more.
  bool Gone() const { return counters_.gone_errno != 0; }
  // Stops polling once a burst or a wake error found the device gone.
  void StopPollingIfGone();

  Napi::Value GetName(const Napi::CallbackInfo& info);
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value GetPreExisted(const Napi::CallbackInfo& info);
  Napi::Value GetSlotSize(const Napi::CallbackInfo& info);
  Napi::Value GetSlotCount(const Napi::CallbackInfo& info);
  Napi::Value GetVnetHdrLen(const Napi::CallbackInfo& info);
  Napi::Value GetDeviceGone(const Napi::CallbackInfo& info);

  Napi::Value AttachPool(const Napi::CallbackInfo& info);
  Napi::Value ReadBurst(const Napi::CallbackInfo& info);
  Napi::Value WriteBurst(const Napi::CallbackInfo& info);
  Napi::Value ConfigureHost(const Napi::CallbackInfo& info);
  Napi::Value HostMac(const Napi::CallbackInfo& info);
  Napi::Value HostMtu(const Napi::CallbackInfo& info);
  Napi::Value HostFlags(const Napi::CallbackInfo& info);
  Napi::Value ArmWake(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  // The optional 4th readBurst argument (a receive flag per frame); see tap_device.cc.
  bool RxFlags(const Napi::CallbackInfo& info, uint32_t n, uint8_t** flags);
  bool CheckOpen(Napi::Env env, const char* syscall);
  uint8_t* PoolData(Napi::Env env);
  // Closes the poll and the fd. Safe from the finalizer: touches only libuv and the fd, never JS.
  void CloseAll();

  int fd_ = -1;
  std::string name_;
  bool pre_existed_ = false;
  uint32_t vnet_hdr_len_ = 0;
  // With offloads: what the kernel takes (TUN_F_CSUM | TUN_F_TSO4; it takes
  // ECN on what we write whatever we asked for) and the MTU GSO cuts to.
  ustack::vnet::TxCaps tx_caps_{1500, true, true, true, true};

  HeldBuffer pool_;  // the attached pool (never a cached pointer: JavaScript can detach it)
  uint32_t slot_size_ = 0;
  uint32_t slot_count_ = 0;

  ustack::tap::Counters counters_;
};

}  // namespace ustack::napi
