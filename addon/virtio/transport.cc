// The virtio 1.x PCI transport. See transport.h.
#include "virtio/transport.h"

#include <time.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace ustack::virtio {

namespace {

uint32_t le32(const uint8_t* p) { return static_cast<uint32_t>(p[0] | p[1] << 8 | p[2] << 16) | static_cast<uint32_t>(p[3]) << 24; }

void sleep_us(long us) {
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
  ::nanosleep(&ts, nullptr);
}

}  // namespace

Caps parse_caps(const uint8_t cfg[256]) {
  Caps c;
  // Status register bit 4: the capability list exists; its head at 0x34.
  if (!(cfg[0x06] & 0x10)) return c;
  uint8_t ptr = cfg[0x34] & 0xfc;
  // At most 48 capabilities fit above the 64-byte header: more means a loop.
  for (int n = 0; ptr != 0; n++) {
    if (n >= 48 || ptr < 0x40 || ptr > 0xfc) {
      c.looped = true;
      break;
    }
    uint8_t id = cfg[ptr], next = cfg[ptr + 1] & 0xfc;
    if (id == kCapMsix) c.msix = true;
    // struct virtio_pci_cap: vndr, next, len, cfg_type, bar, id, pad[2], offset, length (16 bytes);
    // the notify capability adds notify_off_multiplier (20 bytes).
    if (id == kCapVendor && ptr + 16 <= 256 && cfg[ptr + 2] >= 16) {
      c.any_vendor = true;
      uint8_t type = cfg[ptr + 3], bar = cfg[ptr + 4];
      CapWindow w;
      w.found = true;
      w.bar = bar;
      w.offset = le32(cfg + ptr + 8);
      w.length = le32(cfg + ptr + 12);
      if (bar <= 5) {
        if (type == kCfgCommon && !c.common.found) c.common = w;
        if (type == kCfgIsr && !c.isr.found) c.isr = w;
        if (type == kCfgDevice && !c.device.found) c.device = w;
        if (type == kCfgNotify && !c.notify.found && cfg[ptr + 2] >= 20 && ptr + 20 <= 256) {
          c.notify = w;
          c.notify_multiplier = le32(cfg + ptr + 16);
        }
      }
    }
    ptr = next;
  }
  return c;
}

int Transport::open(pci::Device& pci, Error* err) {
  uint8_t cfg[256];
  std::memset(cfg, 0, sizeof cfg);
  int rc = pci::config_read(pci, 0, cfg, sizeof cfg);
  if (rc < 0) return fail(err, "read(config)", -rc);
  caps_ = parse_caps(cfg);
  if (!caps_.modern()) {
    return fail(err, "open", ENOTSUP, "ERR_USTACK_UNSUPPORTED_DEVICE",
                "legacy-only virtio device " + pci.addr +
                    ": it lists no virtio 1.x capabilities (common, notify, ISR), only the legacy I/O interface, "
                    "which this driver does not speak (QEMU: -device virtio-net-pci,disable-legacy=on, or leave "
                    "disable-modern off)");
  }
  // Each window must lie inside its BAR, which must be a memory BAR we can map.
  struct Want {
    const CapWindow* w;
    uint32_t min_len;
    volatile uint8_t** out;
    const char* what;
  } wants[] = {{&caps_.common, common::kSize, &common_, "common configuration"},
               {&caps_.notify, 2, &notify_, "notification"},
               {&caps_.isr, 1, &isr_, "ISR status"},
               {&caps_.device, 0, &device_, "device configuration"}};
  for (Want& w : wants) {
    if (!w.w->found) continue;
    volatile uint8_t* base = nullptr;
    size_t len = 0;
    Error berr;
    rc = pci::map_bar(pci, w.w->bar, &base, &len, &berr);
    if (rc < 0) return fail(err, berr.syscall, -rc, berr.code, berr.message.empty() ? std::string("mapping the BAR of the ") + w.what + " window" : berr.message);
    if (w.w->length < w.min_len || static_cast<uint64_t>(w.w->offset) + w.w->length > len) {
      return fail(err, "open", EINVAL, "ERR_USTACK_UNSUPPORTED_DEVICE",
                  std::string("virtio device ") + pci.addr + ": its " + w.what + " window (BAR" +
                      std::to_string(w.w->bar) + " +" + std::to_string(w.w->offset) + ", " +
                      std::to_string(w.w->length) + " bytes) does not fit the BAR (" + std::to_string(len) + " bytes)");
    }
    *w.out = base + w.w->offset;
  }
  notify_len_ = caps_.notify.length;
  device_len_ = caps_.device.found ? caps_.device.length : 0;
  for (auto& d : doorbell_) d = nullptr;
  return 0;
}

bool Transport::reset() {
  set_status(0);
  // The device may take a moment (virtio 1.x 4.1.4.3.2: wait for 0).
  for (int i = 0; i < 2000; i++) {
    if (status() == 0) return true;
    sleep_us(500);
  }
  return false;
}

uint64_t Transport::device_features() {
  w32(common_, common::kDeviceFeatureSelect, 0);
  uint64_t lo = r32(common_, common::kDeviceFeature);
  w32(common_, common::kDeviceFeatureSelect, 1);
  uint64_t hi = r32(common_, common::kDeviceFeature);
  return lo | hi << 32;
}

void Transport::set_driver_features(uint64_t f) {
  w32(common_, common::kDriverFeatureSelect, 0);
  w32(common_, common::kDriverFeature, static_cast<uint32_t>(f));
  w32(common_, common::kDriverFeatureSelect, 1);
  w32(common_, common::kDriverFeature, static_cast<uint32_t>(f >> 32));
}

uint16_t Transport::queue_max_size(uint16_t q) {
  w16(common_, common::kQueueSelect, q);
  return r16(common_, common::kQueueSize);
}

bool Transport::setup_queue(uint16_t q, uint16_t size, uint64_t desc, uint64_t driver, uint64_t device) {
  if (q >= kMaxQueues) return false;
  w16(common_, common::kQueueSelect, q);
  uint64_t at = static_cast<uint64_t>(r16(common_, common::kQueueNotifyOff)) * caps_.notify_multiplier;
  if (at + 2 > notify_len_ || at % 2 != 0) return false;
  w16(common_, common::kQueueSize, size);
  w64(common_, common::kQueueDesc, desc);
  w64(common_, common::kQueueDriver, driver);
  w64(common_, common::kQueueDevice, device);
  w16(common_, common::kQueueEnable, 1);
  doorbell_[q] = reinterpret_cast<volatile uint16_t*>(notify_ + at);
  return true;
}

}  // namespace ustack::virtio
