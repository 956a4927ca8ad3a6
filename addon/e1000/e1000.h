// The 8254x (e1000) in poll mode with legacy RX descriptors and legacy or
// extended TX descriptors. No N-API types here.
//
// Memory: one DMA region holds the RX ring, the TX ring and the packet pool
// (slots of slot_size() bytes, a power of two, at slot-aligned offsets, so a
// slot never crosses a huge page). RX buffers are 2 KiB (RCTL BSIZE 2048):
// only the first kRxBufSize bytes of an RX slot are used; bigger slots are
// for TSO, where one slot holds a whole TCP super-frame. Free slots live on a
// stack shared with JavaScript: a Uint32Array whose element 0 is the count and
// elements 1..count the free slot indices. JS pops (alloc) and pushes
// (release) directly; rx_burst pops replacements for the RX ring and tx
// reclaim pushes sent slots back. Nothing on that stack is trusted: the
// driver tracks every slot's owner itself (slots/slots.h). One thread.
//
// What the device reports is checked too: RX lengths are bounded by the RX
// buffer before JavaScript sees them, and a head register outside its ring
// (a broken or vanished device reads as all ones) stops the device for good
// (a device fault, counted).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "dma/dma.h"
#include "slots/slots.h"
#include "e1000/multicast.h"
#include "e1000/tx_context.h"
#include "pci/pci.h"

namespace ustack::e1000 {

constexpr uint32_t kRxBufSize = 2048;         // RCTL BSIZE 00
constexpr uint32_t kSlotSize = 2048;          // default slot size without TSO
constexpr uint32_t kTsoSlotSize = 16384;      // default slot size with TSO
constexpr uint32_t kMaxSlotSize = 65536;      // QEMU reads at most 64 KiB per frame
constexpr uint32_t kNoSlot = slots::kNoSlot;

struct Options {
  uint32_t rx_ring = 256;
  uint32_t tx_ring = 256;
  uint32_t slot_count = 0;  // 0: fill the default region (4 MiB, more for big slots: default_region_bytes())
  uint32_t slot_size = 0;   // 0: kTsoSlotSize with TSO, else kSlotSize; a power of two in [2048, 65536]
  uint32_t mtu = 1500;      // IP MTU TSO cuts to
  bool loopback = false;    // MII loopback self-test: every sent frame comes back
  bool promiscuous = false;
  bool tx_checksum = true;  // use context descriptors for IPv4 TCP/UDP checksums
  bool tso = false;         // TCP segmentation offload (needs tx_checksum) for IPv4 TCP frames above the MTU
};

// DMA region size when slot_count is 0: 4 MiB, or about 1024 slots for big
// slots (16 MiB for 16 KiB slots), at most 32 MiB.
size_t default_region_bytes(uint32_t slot_size);

struct Counters {
  uint64_t rx_frames = 0, rx_bytes = 0, rx_dropped_errors = 0, rx_no_slot = 0;
  uint64_t tx_frames = 0, tx_bytes = 0, tx_ring_full = 0, tx_contexts = 0, tx_csum_offloaded = 0;
  uint64_t tx_tso_frames = 0, tx_tso_segments = 0;  // TSO super-frames, and the MTU-sized frames they became
  uint64_t tx_tso_software = 0;     // of those, cut by the driver (QEMU, whole-MSS frames: tx_context.h)
  uint64_t tx_tso_mss_lowered = 0;  // ... or cut one segment finer when it had no slots for that
  uint64_t rx_multi_desc = 0;  // descriptors of frames longer than one RX buffer (dropped)
  uint64_t rx_bad_length = 0;  // frames the device reported shorter than a header or longer than the buffer (dropped)
  uint64_t tx_refused = 0;     // TX bursts refused for a bad slot or length (an error to the caller)
  uint64_t device_faults = 0;  // head registers outside their ring: the device was stopped
  uint64_t irqs = 0;
  // Where the device time goes (the VM test's accounting): rx_burst calls,
  // those that took frames, tx_burst calls that sent, and BAR0 accesses made
  // (each one a trap into the hypervisor or QEMU's device model).
  uint64_t rx_polls = 0, rx_bursts = 0, tx_bursts = 0;
  uint64_t mmio_writes = 0, mmio_reads = 0;
};

// Why tx_burst refused a burst (nothing of it was sent): the caller's mistake.
struct TxRefusal {
  slots::Refusal why = slots::Refusal::kNone;
  uint32_t index = 0;  // position in the burst
  uint32_t slot = 0;
  uint32_t len = 0;
  uint32_t max_len = 0;
  // A Node-style code: ERR_OUT_OF_RANGE (slot or length) or ERR_USTACK_SLOT_NOT_OWNED.
  const char* code() const;
  bool range() const { return why == slots::Refusal::kSlotRange || why == slots::Refusal::kLength; }
  std::string message() const;
};

// Device ids this driver knows (legacy-descriptor 8254x parts QEMU models, and kin).
bool supported_device(uint16_t vendor, uint16_t device, const char** model);

class Device {
 public:
  Device() = default;
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  // Opens the PCI device, allocates DMA memory, resets and programs the
  // device (RX/TX still disabled). A device left running by a crashed process
  // is stopped first.
  int open(const std::string& addr, pci::Access access, const Options& opts, Error* err);

  // Hands RX buffers from the free stack to the ring and enables RX and TX.
  // `capacity`: the indices the stack has room for after its count word.
  int start(uint32_t* free_stack, uint32_t capacity);

  uint32_t rx_burst(uint32_t* slots, uint32_t* lens, uint32_t max);
  // Sends up to n frames; returns how many the ring took (the rest stay the
  // caller's). A burst with a bad slot or length is refused whole: returns 0
  // and says why in *refusal.
  uint32_t tx_burst(const uint32_t* slots, const uint32_t* lens, uint32_t n, TxRefusal* refusal);
  // Returns sent slots to the free stack; returns how many descriptors were reclaimed.
  uint32_t tx_reclaim();

  // Interrupt wake-up. arm(): clears stale causes and unmasks RX interrupts;
  // returns true when a frame is already waiting (the caller must not sleep).
  bool arm_irq();
  // After the irq fd became readable: masks device interrupts, acknowledges.
  void on_irq();
  int irq_fd() const { return pci::irq_fd(pci_); }

  bool link_up();
  // Receives frames sent to these `n` multicast addresses (6 bytes each)
  // from now on, and no others (but hash collisions, see multicast.h):
  // programs the multicast table array, writing only the registers that change.
  void set_multicast(const uint8_t* macs, size_t n);
  // Adds the (clear-on-read) hardware counters into hw_totals().
  void collect_hw_stats();
  const uint64_t* hw_totals() const { return hw_totals_; }
  const Counters& counters() const { return c_; }
  const slots::Faults& slot_faults() const { return slots_.faults(); }
  bool faulted() const { return faulted_; }

  // Stops RX/TX DMA, masks interrupts, clears bus mastering. Safe to call
  // repeatedly, and from exit paths: touches only BAR0 and config space.
  void stop_dma();
  // stop_dma(), then unmaps/closes everything and frees the DMA memory.
  // A view of the pool JavaScript still holds keeps the addresses, mapped to
  // zero pages, until it is gone (dma/view_hold.h).
  void close();
  bool is_open() const { return pci_.bar0 != nullptr; }

  uint8_t* pool() const { return region_.virt + slot_base_; }
  size_t pool_bytes() const { return static_cast<size_t>(slot_count_) * slot_size_; }
  uint32_t slot_count() const { return slot_count_; }
  uint32_t slot_size() const { return slot_size_; }
  bool tso() const { return opts_.tso && opts_.tx_checksum; }
  // QEMU's e1000 model (PCI subsystem vendor 0x1af4).
  bool qemu_model() const { return qemu_model_; }
  const uint8_t* mac() const { return mac_; }
  uint16_t device_id() const { return pci_.device_id; }
  const char* model() const { return model_; }
  bool hugetlb() const { return region_.hugetlb; }
  bool vfio() const { return pci_.access == pci::Access::kVfio; }
  uint32_t rx_ring_size() const { return rx_n_; }
  uint32_t tx_ring_size() const { return tx_n_; }
  // Counted in mmio_reads (read_reg is const: the counter is mutable).
  uint32_t read_reg(uint32_t off) const;
  // Whether `off` is a register read_reg may read: 4-byte aligned, inside the mapped BAR0.
  bool reg_readable(double off) const;

 private:
  struct RxDesc {
    uint64_t addr;
    uint16_t length;
    uint16_t csum;
    uint8_t status;
    uint8_t errors;
    uint16_t special;
  };
  struct TxDesc {
    uint64_t addr;
    uint32_t lower;  // length | cso/dtyp | cmd
    uint32_t upper;  // status | css/popts | special
  };
  static_assert(sizeof(RxDesc) == 16 && sizeof(TxDesc) == 16, "descriptor size");

  void write_reg(uint32_t off, uint32_t v);
  // TX helpers: one descriptor at the tail; a context descriptor unless it is the current one.
  void put_desc(const txctx::Desc& d, uint32_t slot);
  bool put_context(const txctx::Context& c);
  bool tx_software_segments(uint32_t slot, uint8_t* f, const txctx::Plan& p);
  uint32_t reclaim();
  // Head registers inside their rings; otherwise a device fault (stops the device).
  bool heads_sane();
  int phy_write(uint32_t reg, uint16_t v);
  uint64_t slot_addr(uint32_t slot) const { return region_.device_addr(slot_base_ + static_cast<size_t>(slot) * slot_size_); }
  void read_mac();

  pci::Device pci_;
  dma::Region region_;
  Options opts_;
  const char* model_ = "";
  bool qemu_model_ = false;
  uint8_t mac_[6] = {0};
  size_t rx_ring_off_ = 0, tx_ring_off_ = 0, slot_base_ = 0;
  uint32_t slot_count_ = 0;
  uint32_t slot_size_ = kSlotSize;
  volatile RxDesc* rx_ = nullptr;
  volatile TxDesc* tx_ = nullptr;
  uint32_t rx_n_ = 0, tx_n_ = 0;
  uint32_t rx_next_ = 0;                 // next RX descriptor to inspect
  bool rx_in_multi_ = false;             // inside a frame spanning several descriptors (dropped up to its EOP)
  uint32_t tx_tail_ = 0, tx_clean_ = 0;  // next to fill / oldest not reclaimed
  std::vector<uint32_t> rx_slot_, tx_slot_;
  slots::Table slots_;  // every slot's owner, and the shared free stack (see above)
  // Last context descriptor written (so one is sent only when it changes).
  txctx::Context ctx_;
  bool ctx_valid_ = false;
  bool started_ = false;
  uint32_t mta_[kMtaRegisters] = {};  // what the device's MTA holds
  bool faulted_ = false;
  uint64_t hw_totals_[32] = {0};
  mutable Counters c_;
};

}  // namespace ustack::e1000
