// A virtio-net device (virtio 1.x over PCI, "modern" only) in poll mode
// from userspace, through UIO or VFIO. No N-API types here.
//
// Memory: one DMA region holds, for every queue, its split ring and (data
// queues) its virtio_net_hdr array, then the control queue's command
// buffer, then the packet pool (slots of slot_size() bytes, a power of two,
// at slot-aligned offsets, so a slot never crosses a huge page). The rings
// and header arrays fit in the first huge page. Free slots live on the
// stack shared with JavaScript (slots/slots.h; nothing on it is trusted).
//
// Queues: receive queue i is virtqueue 2i, transmit queue i is 2i + 1, the
// control queue follows the last pair (virtio 1.x 5.1.2). With more than
// one pair the driver asks for them with VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET;
// the device then spreads received flows over the receive queues, and
// transmit picks a queue per frame (the caller's, or a hash of its IPv4
// addresses and ports, so a flow keeps its order).
//
// Notifications: device interrupts stay suppressed while the caller polls;
// arm_irq() enables them on the receive queues before the caller sleeps on
// the INTx fd (UIO or VFIO), on_irq() acknowledges (ISR read) and suppresses
// them again. The driver notifies a queue only when the device asks.
//
// A shared pool (Options::pool_fd: one NIC, many workers): the slots are
// not in the driver's own DMA memory but in a huge-page memfd the caller
// made (a shard region, shm/region.h) and other processes map too; the
// driver maps it, reads each huge page's physical address and points the
// descriptors there, so the device reads and writes the very memory the
// workers read and write. Slots from foreign_from on are the workers' own:
// a completed transmit of one goes to the completed list (take_completed)
// for the caller to hand back, not to the free stack. UIO only for now.
//
// Teardown: stop_dma() resets the device (status 0: it forgets its queues
// and stops DMA) and clears bus mastering; close() then frees the memory.
// A device left running by a crashed process is reset on open.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "dma/dma.h"
#include "pci/pci.h"
#include "slots/slots.h"
#include "virtio/features.h"
#include "virtio/net_queue.h"
#include "virtio/transport.h"
#include "vnet_hdr/vnet_hdr.h"

namespace ustack::virtio {

constexpr uint32_t kSlotSize = 2048;        // default slot size without TSO
constexpr uint32_t kTsoSlotSize = 65536;    // with TSO: a 64 KiB super-frame each way
constexpr uint16_t kMaxQueuePairs = 16;
constexpr uint32_t kNoSlot = slots::kNoSlot;

struct Options {
  uint16_t queue_pairs = 1;
  uint32_t queue_size = 256;  // descriptors per data queue (a power of two; lowered to the device's maximum)
  uint32_t slot_count = 0;    // 0: enough for every ring twice over (see default_slot_count)
  uint32_t slot_size = 0;     // 0: kTsoSlotSize when TSO was negotiated, else kSlotSize; a power of two in [2048, 65536]
  uint32_t mtu = 1500;        // IP MTU the device's TSO cuts to
  bool tx_checksum = true;    // CSUM (and GUEST_CSUM for receive)
  bool tso = true;            // HOST_TSO4 / GUEST_TSO4 (needs checksum offload)
  // A shared pool (see above): a huge-page memfd, the byte offset of slot 0
  // in it (a multiple of slot_size); slot_count and slot_size must be given.
  int pool_fd = -1;
  uint64_t pool_offset = 0;
  uint32_t foreign_from = 0;  // 0: none
};

struct Counters {
  uint64_t tx_refused = 0;     // TX bursts refused for a bad slot or length
  uint64_t device_faults = 0;  // the device reported what it cannot: it was stopped
  uint64_t irqs = 0;
  uint64_t ctrl_commands = 0, ctrl_failures = 0;
};

// Why tx_burst refused a burst (nothing of it was sent): the caller's mistake.
struct TxRefusal {
  slots::Refusal why = slots::Refusal::kNone;
  uint32_t index = 0, slot = 0, len = 0, max_len = 0;
  const char* code() const { return range() ? "ERR_OUT_OF_RANGE" : "ERR_USTACK_SLOT_NOT_OWNED"; }
  bool range() const { return why == slots::Refusal::kSlotRange || why == slots::Refusal::kLength; }
  std::string message() const;
};

// Virtio-net PCI ids: 1af4:1041 (modern), 1af4:1000 (transitional).
bool supported_device(uint16_t vendor, uint16_t device, const char** model);

// The transmit queue for a frame (IPv4 TCP/UDP: a hash of addresses and ports; else 0).
uint16_t flow_queue(const uint8_t* f, uint32_t len, uint16_t queues);

class Device {
 public:
  Device() = default;
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  // Opens the PCI device, resets it, negotiates features, allocates DMA
  // memory and sets up the queues (not yet live: start()).
  int open(const std::string& addr, pci::Access access, const Options& opts, Error* err);
  // Hands receive buffers from the free stack to every receive queue, turns
  // bus mastering on, sets DRIVER_OK and, with several pairs, asks for them.
  int start(uint32_t* free_stack, uint32_t capacity, Error* err);

  // queue < 0: every receive queue in turn (from where the last burst stopped).
  uint32_t rx_burst(int queue, uint32_t* slots, uint32_t* lens, uint8_t* flags, uint32_t max);
  // queue < 0: per frame, flow_queue(). Returns how many were taken (a
  // prefix); a burst with a bad slot or length is refused whole (0, *refusal).
  uint32_t tx_burst(int queue, const uint32_t* slots, const uint32_t* lens, uint32_t n, TxRefusal* refusal);
  uint32_t tx_reclaim();
  // Foreign slots (Options::foreign_from) whose transmit completed since the last call (at most max).
  uint32_t take_completed(uint32_t* out, uint32_t max);
  // Receive buffers posted to the device now (every receive queue).
  uint32_t rx_posted() const;
  // Frames on the transmit queues the device has not given back yet.
  uint32_t tx_outstanding() const {
    uint32_t n = 0;
    for (const TxQueue& tq : tx_) n += tq.q.ring.outstanding();
    return n;
  }
  // The device address of slot s (tests: it is where the shared pool's memory lies).
  uint64_t slot_device_addr(uint32_t s) const { return s < slot_count_ ? view_.addr(s) : 0; }
  bool shared_pool() const { return pool_region_.virt != nullptr; }

  bool arm_irq();
  void on_irq();
  int irq_fd() const { return pci::irq_fd(pci_); }

  bool link_up();
  // The receive filter (VIRTIO_NET_F_CTRL_RX): our MAC, broadcast and the n
  // multicast groups of macs[0..n) (6 bytes each) — VIRTIO_NET_CTRL_MAC_TABLE_SET
  // then promiscuous off; more groups than one command carries: all multicast.
  // 0 when done or when the device has no such control (it then filters as it
  // likes: QEMU passes everything); -EIO when the device refused a command.
  int set_multicast(const uint8_t* macs, uint32_t n);
  void stop_dma();
  void close();
  bool is_open() const { return t_.is_open(); }
  bool faulted() const { return faulted_; }

  uint8_t* pool() const { return pool_base_; }
  size_t pool_bytes() const { return static_cast<size_t>(slot_count_) * slot_size_; }
  uint32_t slot_count() const { return slot_count_; }
  uint32_t slot_size() const { return slot_size_; }
  const uint8_t* mac() const { return mac_; }
  bool mac_from_device() const { return (features_ & feature::kMac) != 0; }
  uint16_t device_id() const { return pci_.device_id; }
  uint16_t queue_pairs() const { return pairs_; }
  uint16_t max_queue_pairs() const { return max_pairs_; }
  uint16_t queue_size() const { return qsize_; }
  uint64_t features() const { return features_; }
  uint64_t offered() const { return offered_; }
  bool tx_csum() const { return (features_ & feature::kCsum) != 0; }
  bool tso() const { return (features_ & feature::kHostTso4) != 0; }
  bool rx_gso() const { return (features_ & feature::kGuestTso4) != 0; }
  bool rx_csum() const { return (features_ & feature::kGuestCsum) != 0; }
  bool hugetlb() const { return region_.hugetlb; }
  bool vfio() const { return pci_.access == pci::Access::kVfio; }
  uint8_t status() const { return t_.is_open() ? t_.status() : 0; }
  const Counters& counters() const { return c_; }
  const RxCounters& rx_counters(uint16_t q) const { return rx_[q].c; }
  const TxCounters& tx_counters(uint16_t q) const { return tx_[q].c; }
  const slots::Faults& slot_faults() const { return slots_.faults(); }

 private:
  void fault();
  bool device_sane();
  // Sends a control command (class, cmd, data) and waits for its ack (bounded).
  bool ctrl_command(uint8_t cls, uint8_t cmd, const void* data, uint32_t len);
  uint64_t dev_addr(size_t off) const { return region_.device_addr(off); }

  pci::Device pci_;
  Transport t_;
  dma::Region region_;
  dma::Region pool_region_;  // a shared pool's mapping (Options::pool_fd), else empty
  uint8_t* pool_base_ = nullptr;
  std::vector<uint32_t> completed_;  // foreign slots sent, for take_completed
  Options opts_;
  uint64_t offered_ = 0, features_ = 0;
  uint8_t mac_[6] = {0};
  uint16_t pairs_ = 1, max_pairs_ = 1, qsize_ = 0, ctrl_size_ = 0;
  uint32_t slot_count_ = 0, slot_size_ = kSlotSize;
  size_t slot_base_ = 0, ctrl_ring_off_ = 0, ctrl_buf_off_ = 0;
  std::vector<RxQueue> rx_;
  std::vector<TxQueue> tx_;
  Ring ctrl_;
  PoolView view_;
  vnet::TxCaps caps_;
  slots::Table slots_;
  uint16_t rx_next_ = 0;  // where rx_burst(-1) starts
  bool started_ = false, faulted_ = false;
  Counters c_;
};

}  // namespace ustack::virtio
