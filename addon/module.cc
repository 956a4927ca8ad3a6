// The addon's entry point: registration only. Every export is listed here,
// as src/driver/addon.ts (UstackAddon) declares it; the bindings live in
// addon/napi/ (the only code that knows N-API), over the plain C++ core in
// addon/{tap,vnet_hdr,e1000,virtio,xdp,shm,slots,pci,dma,bytes,heap,registry,common}. See addon/README.md.
#include <napi.h>

#include "napi/bytes_binding.h"
#include "napi/e1000_device.h"
#include "napi/event_loop.h"
#include "napi/heap_policy_binding.h"
#include "napi/shm_owner.h"
#include "napi/shm_port.h"
#include "napi/tap_device.h"
#include "napi/virtio_device.h"
#include "napi/xdp_device.h"

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  using namespace ustack::napi;
  exports.Set("version", Napi::String::New(env, "0.1.0"));

  // Devices (napi/tap_device.h, napi/e1000_device.h, napi/virtio_device.h, napi/xdp_device.h).
  exports.Set("TapDevice", TapDevice::Define(env));
  exports.Set("E1000Device", E1000Device::Define(env));
  exports.Set("XdpDevice", XdpDevice::Define(env));
  exports.Set("e1000StopAll", Napi::Function::New(env, E1000StopAll, "e1000StopAll"));
  exports.Set("e1000StopEnv", Napi::Function::New(env, E1000StopEnv, "e1000StopEnv"));
  exports.Set("e1000SupportedDevice", Napi::Function::New(env, E1000SupportedDevice, "e1000SupportedDevice"));
  exports.Set("VirtioDevice", VirtioDevice::Define(env));
  exports.Set("virtioSupportedDevice", Napi::Function::New(env, VirtioSupportedDevice, "virtioSupportedDevice"));
  // The shared rings between a NIC's owner and its workers (napi/shm_owner.h, napi/shm_port.h).
  exports.Set("ShmOwner", ShmOwner::Define(env));
  exports.Set("ShmPort", ShmPort::Define(env));
  // Stops this environment's PCI devices (e1000, virtio) when it ends (a worker exiting).
  WatchEnvironment(env);

  // The poll loop's view of libuv (napi/event_loop.h).
  exports.Set("eventLoopDue", Napi::Function::New(env, EventLoopDue, "eventLoopDue"));
  exports.Set("eventLoopSpin", Napi::Function::New(env, EventLoopSpin, "eventLoopSpin"));
  // The C library heap's policy for a busy poller (napi/heap_policy_binding.h).
  exports.Set("keepFreedHeap", Napi::Function::New(env, KeepFreedHeap, "keepFreedHeap"));

  // Byte kernels (napi/bytes_binding.h).
  exports.DefineProperties({
      RawMethod("bytesCopy", BytesCopy),
      RawMethod("bytesCopySum", BytesCopySum),
      RawMethod("bytesCopySumScatter", BytesCopySumScatter),
      RawMethod("bytesSum", BytesSum),
  });
  return exports;
}

NODE_API_MODULE(ustack, Init)
