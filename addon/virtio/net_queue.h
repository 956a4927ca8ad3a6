// The receive and transmit queues of the virtio-net driver, over the split
// ring (virtqueue.h), the packet pool's slots (slots/slots.h) and the
// virtio_net_hdr (vnet_hdr/). Plain C++ over memory the caller gives: no
// device registers, no N-API (the notifications are the caller's, after a
// burst says the device wants one). net_queue_test.cc drives them against a
// model of the device.
//
// Descriptors go in fixed pairs: chain c is descriptor 2c, the 12-byte
// virtio_net_hdr in the queue's header array (its own descriptor, so a frame
// still starts at slot offset 0 as the Nic contract says), linked once to
// descriptor 2c + 1, a slot. A queue of n descriptors thus has n / 2 chains;
// only the slot descriptor's address and length change per use.
//
// Receive: every chain holds a slot, posted to the device. A packet comes
// back as one used element, or with VIRTIO_NET_F_MRG_RXBUF as num_buffers
// elements (its header in the first chain, then the frame running on through
// the next chains' buffers: header area first, then slot). A frame that fits
// the first slot is handed to JavaScript there (the rest gathered into it);
// one that does not is dropped and counted; either way every chain goes
// straight back to the device, the first with a fresh slot from the free
// stack when its own went to JavaScript.
//
// Transmit: a free chain per frame, its header built from the frame
// (vnet::tx_header), the slot as the data; reclaim gives sent slots back to
// the free stack and the chains back to the free list.
//
// What the device reports is checked: a used index beyond what it was given,
// an id that is not the head of a chain it holds, a length beyond the
// buffer, num_buffers beyond what it holds -- any of them is a device fault:
// the burst stops and says so (the caller then resets the device).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "dma/dma.h"
#include "slots/slots.h"
#include "virtio/virtqueue.h"
#include "vnet_hdr/vnet_hdr.h"

namespace ustack::virtio {

constexpr uint32_t kHdrStride = 16;  // header array entry (12 bytes used)

// The packet pool as the queues see it: slot s's memory and device address.
struct PoolView {
  uint8_t* base = nullptr;  // slot 0
  uint32_t slot_size = 0;
  uint32_t slot_count = 0;
  const dma::Region* region = nullptr;
  size_t offset = 0;  // slot 0's offset in the region
  uint8_t* ptr(uint32_t s) const { return base + static_cast<size_t>(s) * slot_size; }
  uint64_t addr(uint32_t s) const { return region->device_addr(offset + static_cast<size_t>(s) * slot_size); }
};

// A queue of header+slot chains (see above).
class PairQueue {
 public:
  // ring_mem: layout(n).bytes (zeroed); hdrs: kHdrStride * n / 2 bytes at
  // device address hdrs_addr. device_writes: receive (both descriptors
  // device-writable) or transmit (both device-readable).
  void init(uint8_t* ring_mem, uint8_t* hdrs, uint64_t hdrs_addr, uint16_t n, bool device_writes);
  uint16_t chains() const { return static_cast<uint16_t>(ring.size() / 2); }
  uint8_t* hdr(uint16_t c) const { return hdrs_ + static_cast<size_t>(c) * kHdrStride; }
  uint32_t slot(uint16_t c) const { return slot_[c]; }
  bool out(uint16_t c) const { return out_[c] != 0; }
  // The chain a used element names: the head of a chain the device holds, else -1.
  int32_t chain_of(uint32_t id) const {
    if (id >= ring.size() || (id & 1) != 0 || out_[id / 2] == 0) return -1;
    return static_cast<int32_t>(id / 2);
  }
  // Points chain c's slot descriptor at (addr, len) and puts it on the ring.
  void post(uint16_t c, uint64_t addr, uint32_t len, uint32_t slot);
  // The device gave chain c back (mark_out: after all, it did not).
  void returned(uint16_t c) { out_[c] = 0; }
  void mark_out(uint16_t c) { out_[c] = 1; }
  void set_slot(uint16_t c, uint32_t slot) { slot_[c] = slot; }

  // Transmit's free chains.
  int32_t take_free() {
    if (free_.empty()) return -1;
    uint16_t c = free_.back();
    free_.pop_back();
    return c;
  }
  void put_free(uint16_t c) { free_.push_back(c); }
  uint32_t free_count() const { return static_cast<uint32_t>(free_.size()); }

  Ring ring;

 private:
  uint8_t* hdrs_ = nullptr;
  std::vector<uint32_t> slot_;
  std::vector<uint8_t> out_;
  std::vector<uint16_t> free_;
};

struct RxCounters {
  uint64_t frames = 0, bytes = 0;
  uint64_t merged = 0;       // frames that spanned several buffers (gathered into the first slot)
  uint64_t too_long = 0;     // frames longer than a slot (dropped)
  uint64_t bad_length = 0;   // used lengths shorter than a header + Ethernet header (dropped)
  uint64_t no_slot = 0;      // bursts that stopped for want of a free slot
  uint64_t gso = 0;          // GSO super-frames received
  uint64_t csum_partial = 0, csum_valid = 0, csum_completed = 0;
  uint64_t notifies = 0;     // notifications the device asked for (counted by the caller)
};

struct TxCounters {
  uint64_t frames = 0, bytes = 0;
  uint64_t ring_full = 0;    // bursts cut short for want of a free chain
  uint64_t gso = 0;          // frames handed over for segmentation (GSO_TCPV4)
  uint64_t csum = 0;         // frames with NEEDS_CSUM
  uint64_t notifies = 0;
};

// A burst's verdict on the device.
enum class DeviceVerdict : uint8_t { kOk, kFault };

class RxQueue {
 public:
  // `buf_len`: bytes of each slot the device may write (<= slot size).
  void init(uint8_t* ring_mem, uint8_t* hdrs, uint64_t hdrs_addr, uint16_t n, uint32_t buf_len, bool mergeable);
  // Gives every chain a slot from the free stack and publishes them; false
  // when the stack runs out (every slot taken is given back).
  bool fill(const PoolView& pool, slots::Table* t);
  // Moves up to `max` received frames to JavaScript (slots[i], lens[i]; with
  // `flags`, their receive flags, else partial checksums completed).
  // Returns the count; *verdict says whether the device misbehaved.
  uint32_t burst(const PoolView& pool, slots::Table* t, uint32_t* slots, uint32_t* lens, uint8_t* flags, uint32_t max,
                 DeviceVerdict* verdict);
  // Slots held in the ring (for close: they go back with the pool).
  PairQueue q;
  RxCounters c;

 private:
  uint32_t buf_len_ = 0;
  bool mergeable_ = false;
  std::vector<uint16_t> repost_;  // chains reaped in this burst, posted again at its end
};

class TxQueue {
 public:
  void init(uint8_t* ring_mem, uint8_t* hdrs, uint64_t hdrs_addr, uint16_t n);
  // Queues frames (already claimed as kTx in the slot table) until the
  // chains run out; returns how many were taken (the rest stay the caller's).
  uint32_t burst(const PoolView& pool, const uint32_t* slots, const uint32_t* lens, uint32_t n, const vnet::TxCaps& caps);
  // One frame onto the ring (false: no free chain); flush() publishes what was put.
  bool put(const PoolView& pool, uint32_t slot, uint32_t len, const vnet::TxCaps& caps);
  void flush() {
    if (q.ring.unpublished() != 0) q.ring.publish();
  }
  // Gives sent slots back to the free stack; returns how many. Slots from
  // foreign_from on (when not 0) go to *completed instead (a shared pool's
  // worker slots: their owner takes them back).
  uint32_t reclaim(slots::Table* t, DeviceVerdict* verdict, uint32_t foreign_from = 0, std::vector<uint32_t>* completed = nullptr);
  PairQueue q;
  TxCounters c;
};

}  // namespace ustack::virtio
