// XdpDevice: the JavaScript class over addon/xdp (src/driver/addon.ts
// declares its surface).
//
// new XdpDevice(ifname, { queue (a number, or 'all'), mode, zerocopy,
// busyPoll, slotCount, ringSize, shared, ephemeralLow, ephemeralHigh }) sets up the UMEM, the rings, the maps and ustack's XDP
// program, attached through a bpf_link. `pool` is the slot memory as one
// external ArrayBuffer (detached on close). start(freeStack) fills the fill
// ring from the shared free-slot stack (Uint32Array: [count, slot...]),
// binds the socket to the queue and enters it in the XSKMAP; from then on
// frames for the addresses given to setAddresses() arrive. rxBurst/txBurst
// move one burst per call. Wake-up: a poll on the socket (PolledDevice).
#pragma once
#include <napi.h>

#include <string>

#include "napi/buffers.h"
#include "napi/polled_device.h"
#include "xdp/xdp.h"

namespace ustack::napi {

class XdpDevice : public PolledDevice<XdpDevice> {
 public:
  static Napi::Function Define(Napi::Env env);

  explicit XdpDevice(const Napi::CallbackInfo& info);
  ~XdpDevice() override { CloseAll(); }

 private:
  friend class PolledDevice<XdpDevice>;

  // PolledDevice hooks.
  bool IsOpen() const { return dev_.is_open(); }

  Napi::Value GetPool(const Napi::CallbackInfo& info);
  Napi::Value GetSlotSize(const Napi::CallbackInfo& info);
  Napi::Value GetSlotCount(const Napi::CallbackInfo& info);
  Napi::Value GetMaxFrame(const Napi::CallbackInfo& info);
  Napi::Value GetMac(const Napi::CallbackInfo& info);
  Napi::Value GetMtu(const Napi::CallbackInfo& info);
  Napi::Value GetIfindex(const Napi::CallbackInfo& info);
  Napi::Value GetQueue(const Napi::CallbackInfo& info);
  Napi::Value GetQueueCount(const Napi::CallbackInfo& info);
  Napi::Value GetMode(const Napi::CallbackInfo& info);
  Napi::Value GetZerocopy(const Napi::CallbackInfo& info);
  Napi::Value GetProgramId(const Napi::CallbackInfo& info);
  Napi::Value GetLinkId(const Napi::CallbackInfo& info);
  Napi::Value GetFd(const Napi::CallbackInfo& info);

  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value SetAddresses(const Napi::CallbackInfo& info);
  Napi::Value SetAddresses6(const Napi::CallbackInfo& info);
  Napi::Value SetMulticast(const Napi::CallbackInfo& info);
  Napi::Value SetPorts(const Napi::CallbackInfo& info);
  Napi::Value Neighbor(const Napi::CallbackInfo& info);
  Napi::Value GetShared(const Napi::CallbackInfo& info);
  Napi::Value RxBurst(const Napi::CallbackInfo& info);
  Napi::Value TxBurst(const Napi::CallbackInfo& info);
  Napi::Value TxReclaim(const Napi::CallbackInfo& info);
  Napi::Value TakeCompleted(const Napi::CallbackInfo& info);
  Napi::Value ArmWake(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  bool FreeStackUsable(Napi::Env env);
  // Closes the poll, then the device (link, socket, maps, UMEM). Safe from the finalizer.
  void CloseAll();

  std::string ifname_;
  ustack::xdp::Device dev_;
  Napi::Reference<Napi::ArrayBuffer> pool_ref_;
  HeldBuffer free_stack_;  // the driver keeps its address: checked before every call (FreeStackUsable)
};

}  // namespace ustack::napi
