// DMA memory handed to JavaScript (an external ArrayBuffer over a device's
// packet pool) can be reached from JavaScript after the device closes: the
// ArrayBuffer lives until it is garbage-collected, and
// ArrayBuffer.prototype.transfer() moves the memory into a new ArrayBuffer
// the device never saw (node >= 22; the close-time detach cannot reach that
// one). A ViewHold marks [begin, begin + len) as viewed for as long as such
// an ArrayBuffer lives. free_region() then gives the memory back at once
// (huge pages, locked RAM) but keeps the addresses: it maps zero pages over
// the same range instead of unmapping it, so a stale view reads zeros
// instead of faulting or seeing whatever the addresses are reused for. The
// last hold on such a retired mapping unmaps it.
//
// Process-wide, under a mutex: holds end in finalizers, regions are freed by
// whichever thread closes their device.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ustack::dma {

class ViewHold {
 public:
  ViewHold(const uint8_t* begin, size_t len);
  ~ViewHold();
  ViewHold(const ViewHold&) = delete;
  ViewHold& operator=(const ViewHold&) = delete;

 private:
  const uint8_t* begin_;
  size_t len_;
};

// Unmaps [virt, virt + size), or, while a ViewHold overlaps it, replaces its
// memory with zero pages and leaves the unmapping to the last such hold.
// Returns true when the range was unmapped now.
bool unmap_or_retire(uint8_t* virt, size_t size);

// Mappings retired and not yet unmapped (for tests).
size_t retired_mappings();

}  // namespace ustack::dma
