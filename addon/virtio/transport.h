// The virtio 1.x PCI transport ("modern": virtio 1.x 4.1), over the UIO or
// VFIO access of addon/pci. No N-API.
//
// A modern device describes where its registers are with vendor-specific
// PCI capabilities (id 0x09): common configuration (features, status,
// queues), notification (a doorbell per queue at queue_notify_off *
// notify_off_multiplier), ISR status (read to acknowledge an INTx
// interrupt) and the device-specific configuration (virtio-net: MAC, link
// status, queue pairs), each a window of a memory BAR. parse_caps() walks
// the capability list of a copy of the configuration space (pure: tests
// feed it made-up ones); Transport maps the BARs the windows are in and
// reads and writes the registers. A device that lists none of these
// (legacy-only: an I/O BAR and nothing else) is refused by the caller.
#pragma once
#include <cstddef>
#include <cstdint>

#include "common/error.h"
#include "pci/pci.h"

namespace ustack::virtio {

constexpr uint8_t kCapVendor = 0x09;
constexpr uint8_t kCapMsix = 0x11;
constexpr uint8_t kCfgCommon = 1, kCfgNotify = 2, kCfgIsr = 3, kCfgDevice = 4;

struct CapWindow {
  bool found = false;
  uint8_t bar = 0;
  uint32_t offset = 0;
  uint32_t length = 0;
};

struct Caps {
  CapWindow common, notify, isr, device;
  uint32_t notify_multiplier = 0;
  bool msix = false;     // an MSI-X capability is listed (not used: INTx)
  bool looped = false;   // the list ran in a circle or past the space (cut short)
  bool any_vendor = false;
  bool modern() const { return common.found && notify.found && isr.found; }
};

// Walks the capability list of a device's 256-byte configuration space.
// The first usable window of each type wins (virtio 1.x 4.1.4: a driver uses
// the first it understands); windows on BARs above 5 are skipped.
Caps parse_caps(const uint8_t cfg[256]);

// Device status bits (virtio 1.x 2.1).
constexpr uint8_t kStatusAcknowledge = 1;
constexpr uint8_t kStatusDriver = 2;
constexpr uint8_t kStatusDriverOk = 4;
constexpr uint8_t kStatusFeaturesOk = 8;
constexpr uint8_t kStatusNeedsReset = 64;
constexpr uint8_t kStatusFailed = 128;

// struct virtio_pci_common_cfg offsets.
namespace common {
constexpr uint32_t kDeviceFeatureSelect = 0x00, kDeviceFeature = 0x04, kDriverFeatureSelect = 0x08,
                   kDriverFeature = 0x0c, kMsixConfig = 0x10, kNumQueues = 0x12, kDeviceStatus = 0x14,
                   kConfigGeneration = 0x15, kQueueSelect = 0x16, kQueueSize = 0x18, kQueueMsixVector = 0x1a,
                   kQueueEnable = 0x1c, kQueueNotifyOff = 0x1e, kQueueDesc = 0x20, kQueueDriver = 0x28,
                   kQueueDevice = 0x30, kSize = 0x38;
}

class Transport {
 public:
  // Reads the configuration space of an open device, finds the windows and
  // maps their BARs. -errno with *err (ERR_USTACK_UNSUPPORTED_DEVICE for a
  // legacy-only device or windows that do not fit their BARs).
  int open(pci::Device& pci, Error* err);
  bool is_open() const { return common_ != nullptr; }
  void detach() { common_ = notify_ = isr_ = device_ = nullptr; }

  uint8_t status() const { return r8(common_, common::kDeviceStatus); }
  void set_status(uint8_t s) { w8(common_, common::kDeviceStatus, s); }
  // Writes 0 and waits (bounded) until the device reads back 0: reset done,
  // its queues forgotten and its DMA stopped. false when it never does.
  bool reset();

  uint64_t device_features();
  void set_driver_features(uint64_t f);
  uint16_t num_queues() const { return r16(common_, common::kNumQueues); }
  uint8_t config_generation() const { return r8(common_, common::kConfigGeneration); }

  // Queue setup (virtio 1.x 4.1.5.1.3): select, read the maximum size, write
  // ours and the three addresses, enable. The notify doorbell's address is
  // kept for notify(); false when it lies outside the notify window.
  uint16_t queue_max_size(uint16_t q);
  bool setup_queue(uint16_t q, uint16_t size, uint64_t desc, uint64_t driver, uint64_t device);
  void notify(uint16_t q) const {
    if (q < kMaxQueues && doorbell_[q] != nullptr) *doorbell_[q] = q;
  }
  // Reading ISR status acknowledges the interrupt (and lowers INTx).
  uint8_t isr() const { return r8(isr_, 0); }

  // Device-specific configuration, bounds-checked against its window (0 past it).
  uint8_t device_cfg8(uint32_t off) const { return off + 1 <= device_len_ ? r8(device_, off) : 0; }
  uint16_t device_cfg16(uint32_t off) const { return off + 2 <= device_len_ ? r16(device_, off) : 0; }
  uint32_t device_cfg_len() const { return device_len_; }
  const Caps& caps() const { return caps_; }

  static constexpr uint16_t kMaxQueues = 64;

 private:
  static uint8_t r8(volatile uint8_t* b, uint32_t off) { return *(b + off); }
  static uint16_t r16(volatile uint8_t* b, uint32_t off) { return *reinterpret_cast<volatile uint16_t*>(b + off); }
  static uint32_t r32(volatile uint8_t* b, uint32_t off) { return *reinterpret_cast<volatile uint32_t*>(b + off); }
  static void w8(volatile uint8_t* b, uint32_t off, uint8_t v) { *(b + off) = v; }
  static void w16(volatile uint8_t* b, uint32_t off, uint16_t v) { *reinterpret_cast<volatile uint16_t*>(b + off) = v; }
  static void w32(volatile uint8_t* b, uint32_t off, uint32_t v) { *reinterpret_cast<volatile uint32_t*>(b + off) = v; }
  // 64-bit registers as two 32-bit writes, low half first (QEMU's common
  // window takes at most 4 bytes per access).
  static void w64(volatile uint8_t* b, uint32_t off, uint64_t v) {
    w32(b, off, static_cast<uint32_t>(v));
    w32(b, off + 4, static_cast<uint32_t>(v >> 32));
  }

  Caps caps_;
  volatile uint8_t* common_ = nullptr;
  volatile uint8_t* notify_ = nullptr;
  volatile uint8_t* isr_ = nullptr;
  volatile uint8_t* device_ = nullptr;
  uint32_t notify_len_ = 0, device_len_ = 0;
  volatile uint16_t* doorbell_[kMaxQueues] = {};
};

}  // namespace ustack::virtio
