// PCI device access from userspace: UIO (uio_pci_generic) and VFIO (type1
// with an IOMMU, or no-IOMMU where the kernel has it). Plain POSIX, no N-API.
//
// Functions return 0 (or a non-negative value) on success and -errno on
// failure; on failure the Error (common/error.h) says which call failed and,
// for the cases a user can fix, a sentence saying what to do.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/error.h"

namespace ustack::pci {

enum class Access { kUio, kVfio };

struct Device {
  std::string addr;  // 0000:00:03.0
  Access access = Access::kUio;
  uint16_t vendor = 0, device_id = 0;
  // UIO
  int config_fd = -1;  // sysfs config (UIO)
  int uio_fd = -1;     // /dev/uioN: interrupt counter; kept open for the device's lifetime
                       // (uio_pci_generic clears bus mastering when it is closed, even on SIGKILL)
  int bar_fd = -1;
  // VFIO
  int container_fd = -1, group_fd = -1, device_fd = -1;
  uint64_t config_offset = 0;  // VFIO config region offset in device_fd
  int irq_eventfd = -1;        // VFIO INTx trigger
  bool noiommu = false;        // VFIO no-IOMMU container: DMA needs physical addresses
  // BAR0 (mapped by open_device unless asked not to)
  volatile uint8_t* bar0 = nullptr;
  size_t bar0_len = 0;
  // Further BARs mapped by map_bar (index 1..5; 0 is bar0 above)
  volatile uint8_t* bars[6] = {nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};
  size_t bar_lens[6] = {0, 0, 0, 0, 0, 0};
};

// Reads vendor/device id from sysfs (no access needed beyond reading sysfs).
int read_ids(const std::string& addr, uint16_t* vendor, uint16_t* device);

// Name of the kernel driver bound to the device ("" if none), or -errno.
int current_driver(const std::string& addr, std::string* driver);

// Opens the device through the given access method and maps BAR0 (unless
// map_bar0 is false: a virtio 1.x device with legacy disabled has no BAR0;
// its registers are where its capabilities say, mapped by map_bar).
int open_device(const std::string& addr, Access access, Device* dev, Error* err, bool map_bar0 = true);

// Maps memory BAR `bar` (0..5) of an open device (once; again returns the
// same mapping). UIO: sysfs resourceN; VFIO: the BAR's region.
int map_bar(Device& d, unsigned bar, volatile uint8_t** addr, size_t* len, Error* err);

// Config space access (UIO: sysfs config; VFIO: the config region).
int config_read(Device& d, uint32_t off, void* buf, size_t len);
int config_write(Device& d, uint32_t off, const void* buf, size_t len);

// Command register bits: memory space (1) and bus master (2).
int set_command_bits(Device& d, bool memory, bool bus_master);

// The fd that becomes readable on an interrupt (UIO: /dev/uioN; VFIO: eventfd).
int irq_fd(const Device& d);
// Consumes the pending interrupt notification (read) without blocking.
void irq_consume(Device& d);
// Re-enables the (INTx) interrupt after it fired (UIO: clears Interrupt
// Disable in the command register, as uio_pci_generic has no irqcontrol;
// VFIO: unmask).
int irq_unmask(Device& d);

// VFIO only: maps [vaddr, vaddr+len) at iova for device DMA.
int vfio_map_dma(Device& d, void* vaddr, size_t len, uint64_t iova);
int vfio_unmap_dma(Device& d, size_t len, uint64_t iova);

// Unmaps every BAR and closes every fd (closing the VFIO device resets it;
// closing /dev/uioN clears bus mastering).
void close_device(Device& d);

}  // namespace ustack::pci
