// 8254x poll-mode driver. See e1000.h and ../../shared notes for the init order.
#include "e1000/e1000.h"

#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "e1000/regs.h"
#include "e1000/ring.h"

namespace ustack::e1000 {

namespace {

constexpr size_t kRegionBytes = 4u << 20;      // 2 huge pages: about 2000 slots of 2 KiB
constexpr size_t kMaxRegionBytes = 32u << 20;  // default region cap for big slots (16 huge pages)
constexpr uint32_t kDefaultSlots = 1024;       // aimed at for big slots
constexpr uint32_t kVlanFrameOverhead = 18;    // Ethernet header + 802.1Q tag (1522-byte frames without LPE)
constexpr uint64_t kIova = 1ull << 30;     // where VFIO maps the region for the device

void sleep_us(long us) {
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
  ::nanosleep(&ts, nullptr);
}

inline void wmb() { __atomic_thread_fence(__ATOMIC_RELEASE); }
inline void rmb() { __atomic_thread_fence(__ATOMIC_ACQUIRE); }

}  // namespace

size_t default_region_bytes(uint32_t slot_size) {
  size_t want = static_cast<size_t>(slot_size) * kDefaultSlots;
  if (want < kRegionBytes) want = kRegionBytes;
  if (want > kMaxRegionBytes) want = kMaxRegionBytes;
  return want;
}

bool supported_device(uint16_t vendor, uint16_t device, const char** model) {
  if (vendor != 0x8086) return false;
  const char* m = nullptr;
  switch (device) {
    case 0x100e: m = "82540EM"; break;
    case 0x100f: m = "82545EM"; break;
    case 0x1011: m = "82545EM (fiber)"; break;
    case 0x1015: m = "82540EM (LOM)"; break;
    case 0x1016: m = "82540EP (LOM)"; break;
    case 0x1017: m = "82540EP"; break;
    case 0x101e: m = "82540EP (mobile)"; break;
    case 0x1026: m = "82545GM"; break;
    case 0x1076: m = "82541GI"; break;
    case 0x107c: m = "82541PI"; break;
    default: return false;
  }
  if (model != nullptr) *model = m;
  return true;
}

Device::~Device() { close(); }

uint32_t Device::read_reg(uint32_t off) const {
  c_.mmio_reads++;
  return *reinterpret_cast<const volatile uint32_t*>(pci_.bar0 + off);
}

bool Device::reg_readable(double off) const {
  return is_open() && off >= 0 && off + 4 <= static_cast<double>(pci_.bar0_len) && off == static_cast<double>(static_cast<uint32_t>(off)) &&
         static_cast<uint32_t>(off) % 4 == 0;
}

const char* TxRefusal::code() const { return range() ? "ERR_OUT_OF_RANGE" : "ERR_USTACK_SLOT_NOT_OWNED"; }

std::string TxRefusal::message() const {
  std::string at = "txBurst: frame " + std::to_string(index) + ": slot " + std::to_string(slot);
  switch (why) {
    case slots::Refusal::kSlotRange: return at + " is not a slot of the pool";
    case slots::Refusal::kLength:
      return at + ": length " + std::to_string(len) + " is outside [" + std::to_string(slots::kMinFrame) + ", " +
             std::to_string(max_len) + "]";
    case slots::Refusal::kOnFreeStack: return at + " is free (released, or never allocated): it cannot be sent";
    case slots::Refusal::kInRx: return at + " is in the RX ring (the driver owns it)";
    case slots::Refusal::kInTx: return at + " is already in the TX ring (sent twice)";
    case slots::Refusal::kNone: break;
  }
  return at;
}

void Device::write_reg(uint32_t off, uint32_t v) {
  c_.mmio_writes++;
  *reinterpret_cast<volatile uint32_t*>(pci_.bar0 + off) = v;
}

int Device::phy_write(uint32_t phy_reg, uint16_t v) {
  write_reg(reg::MDIC, v | (phy_reg << 16) | (1u << 21) | reg::MDIC_OP_WRITE);
  for (int i = 0; i < 1000; i++) {
    uint32_t m = read_reg(reg::MDIC);
    if (m & reg::MDIC_ERROR) return -EIO;
    if (m & reg::MDIC_READY) return 0;
    sleep_us(10);
  }
  return -ETIMEDOUT;
}

void Device::read_mac() {
  uint32_t ral = read_reg(reg::RAL0), rah = read_reg(reg::RAH0);
  if ((rah & (1u << 31)) && (ral != 0 || (rah & 0xffff) != 0)) {
    for (int i = 0; i < 4; i++) mac_[i] = static_cast<uint8_t>(ral >> (8 * i));
    mac_[4] = static_cast<uint8_t>(rah);
    mac_[5] = static_cast<uint8_t>(rah >> 8);
    return;
  }
  // EEPROM words 0-2 through EERD (82540EM: start bit 0, done bit 4, data 31:16).
  for (uint32_t w = 0; w < 3; w++) {
    write_reg(reg::EERD, (w << 8) | 1u);
    uint32_t v = 0;
    for (int i = 0; i < 10000; i++) {
      v = read_reg(reg::EERD);
      if (v & (1u << 4)) break;
      sleep_us(5);
    }
    uint16_t data = static_cast<uint16_t>(v >> 16);
    mac_[2 * w] = static_cast<uint8_t>(data);
    mac_[2 * w + 1] = static_cast<uint8_t>(data >> 8);
  }
}

int Device::open(const std::string& addr, pci::Access access, const Options& opts, Error* err) {
  opts_ = opts;
  if (!ring::valid_ring_size(opts.rx_ring) || !ring::valid_ring_size(opts.tx_ring)) {
    return fail(err, "open", EINVAL, "ERR_OUT_OF_RANGE", "ring sizes must be multiples of 8 in [8, 65536]");
  }
  if (!opts.tx_checksum) opts_.tso = false;  // TSO rides on checksum offload
  slot_size_ = opts.slot_size != 0 ? opts.slot_size : (opts_.tso ? kTsoSlotSize : kSlotSize);
  if (slot_size_ < kRxBufSize || slot_size_ > kMaxSlotSize || (slot_size_ & (slot_size_ - 1)) != 0) {
    return fail(err, "open", EINVAL, "ERR_OUT_OF_RANGE", "slot size must be a power of two in [2048, 65536]");
  }
  if (opts_.mtu < 68 || opts_.mtu + kVlanFrameOverhead > 1522) {
    return fail(err, "open", EINVAL, "ERR_OUT_OF_RANGE", "mtu must be in [68, 1500] (no jumbo frames: long-packet reception stays off)");
  }
  Error perr;
  int rc = pci::open_device(addr, access, &pci_, &perr);
  if (rc < 0) return fail(err, perr.syscall, -rc, perr.code, perr.message);
  if (!supported_device(pci_.vendor, pci_.device_id, &model_)) {
    char ids[32];
    std::snprintf(ids, sizeof ids, "%04x:%04x", pci_.vendor, pci_.device_id);
    pci::close_device(pci_);
    return fail(err, "open", ENOTSUP, "ERR_USTACK_UNSUPPORTED_DEVICE",
                "device " + addr + " (" + ids + ") is not an 8254x this driver supports (82540EM 8086:100e, 82545EM 8086:100f, ...)");
  }
  if (pci_.bar0_len < 0x10000) {
    pci::close_device(pci_);
    return fail(err, "mmap(BAR0)", EINVAL, "", "BAR0 is too small for an 8254x");
  }
  // QEMU's models carry its default PCI subsystem vendor (Red Hat, 0x1af4):
  // their TSO needs the whole-MSS workaround (tx_context.h).
  uint8_t subvendor[2] = {0, 0};  // config space is little-endian
  qemu_model_ = pci::config_read(pci_, 0x2c, subvendor, 2) == 0 && (subvendor[0] | subvendor[1] << 8) == 0x1af4;

  // Memory space on, bus master off while we take the device over. A process
  // that died may have left RX/TX running with rings in freed memory: stop
  // them before anything else.
  pci::set_command_bits(pci_, true, false);
  write_reg(reg::IMC, 0xffffffffu);
  write_reg(reg::RCTL, 0);
  write_reg(reg::TCTL, 0);
  (void)read_reg(reg::STATUS);  // flush posted writes
  sleep_us(1000);
  write_reg(reg::CTRL, read_reg(reg::CTRL) | reg::CTRL_RST);
  sleep_us(1000);
  for (int i = 0; i < 1000 && (read_reg(reg::CTRL) & reg::CTRL_RST); i++) sleep_us(100);
  write_reg(reg::IMC, 0xffffffffu);
  (void)read_reg(reg::ICR);

  // DMA memory: rings first, then the slots, each at a multiple of the slot
  // size (a power of two no bigger than a huge page: no slot crosses one).
  rx_n_ = opts.rx_ring;
  tx_n_ = opts.tx_ring;
  rx_ring_off_ = 0;
  tx_ring_off_ = (static_cast<size_t>(rx_n_) * 16 + 127) / 128 * 128;
  size_t align = slot_size_ > 4096 ? slot_size_ : 4096;
  slot_base_ = (tx_ring_off_ + static_cast<size_t>(tx_n_) * 16 + align - 1) / align * align;
  size_t want = opts.slot_count == 0 ? default_region_bytes(slot_size_)
                                     : slot_base_ + static_cast<size_t>(opts.slot_count) * slot_size_;
  Error derr;
  if (access == pci::Access::kVfio && !pci_.noiommu) {
    rc = dma::alloc_anon(want, &region_, &derr);
    if (rc == 0) {
      rc = pci::vfio_map_dma(pci_, region_.virt, region_.size, kIova);
      if (rc < 0) {
        dma::free_region(&region_);
        pci::close_device(pci_);
        return fail(err, "ioctl(VFIO_IOMMU_MAP_DMA)", -rc);
      }
      dma::set_iova(&region_, kIova);
    }
  } else {
    rc = dma::alloc_hugetlb(want, &region_, &derr);
  }
  if (rc < 0) {
    pci::close_device(pci_);
    return fail(err, derr.syscall, -rc, derr.code, derr.message);
  }
  size_t slots = region_.size > slot_base_ ? (region_.size - slot_base_) / slot_size_ : 0;
  if (opts.slot_count != 0 && opts.slot_count < slots) slots = opts.slot_count;
  slot_count_ = static_cast<uint32_t>(slots);
  if (slot_count_ < rx_n_ + 32) {
    close();
    return fail(err, "open", EINVAL, "ERR_OUT_OF_RANGE", "slot pool too small for the RX ring");
  }
  rx_ = reinterpret_cast<volatile RxDesc*>(region_.virt + rx_ring_off_);
  tx_ = reinterpret_cast<volatile TxDesc*>(region_.virt + tx_ring_off_);
  rx_slot_.assign(rx_n_, kNoSlot);
  tx_slot_.assign(tx_n_, kNoSlot);
  slots_.reset(slot_count_);
  faulted_ = false;

  // Link: set link up, auto speed; clear link reset, loss-of-signal invert, VLAN mode, PHY reset.
  uint32_t ctrl = read_reg(reg::CTRL);
  ctrl |= reg::CTRL_SLU | reg::CTRL_ASDE;
  ctrl &= ~(reg::CTRL_LRST | reg::CTRL_ILOS | reg::CTRL_VME | reg::CTRL_PHY_RST);
  write_reg(reg::CTRL, ctrl);
  write_reg(reg::FCAL, 0);
  write_reg(reg::FCAH, 0);
  write_reg(reg::FCT, 0);
  write_reg(reg::FCTTV, 0);
  if (opts.loopback) {
    phy_write(reg::PHY_BMCR, reg::BMCR_LOOPBACK | reg::BMCR_FULL_DUPLEX | reg::BMCR_SPEED1000);
  } else {
    phy_write(reg::PHY_BMCR, reg::BMCR_ANENABLE | reg::BMCR_FULL_DUPLEX | reg::BMCR_SPEED1000);
  }

  read_mac();
  write_reg(reg::RAL0, mac_[0] | (mac_[1] << 8) | (mac_[2] << 16) | (static_cast<uint32_t>(mac_[3]) << 24));
  write_reg(reg::RAH0, mac_[4] | (mac_[5] << 8) | (1u << 31));
  for (uint32_t i = 0; i < kMtaRegisters; i++) write_reg(reg::MTA + 4 * i, 0);
  std::memset(mta_, 0, sizeof mta_);
  // Clear the clear-on-read statistics left by an earlier user.
  for (int i = 0; i < reg::kStatCount; i++) {
    (void)read_reg(reg::kStats[i].off);
    if (reg::kStats[i].wide) (void)read_reg(reg::kStats[i].off + 4);
  }
  write_reg(reg::ITR, 0);
  write_reg(reg::RDTR, 0);
  return 0;
}

int Device::start(uint32_t* free_stack, uint32_t capacity) {
  if (!is_open() || started_ || faulted_ || free_stack == nullptr) return -EINVAL;
  slots_.attach(free_stack, capacity);
  if (slots_.count() < rx_n_) {
    slots_.detach();
    return -ENOBUFS;
  }
  // RX ring: every descriptor gets a buffer; the hardware owns all but one.
  // After attach() the stack holds only valid, distinct slots: no pop fails.
  for (uint32_t i = 0; i < rx_n_; i++) {
    uint32_t s = slots_.pop(slots::State::kRx);
    if (s == kNoSlot) {
      for (uint32_t j = 0; j < i; j++) slots_.push(rx_slot_[j]);
      rx_slot_.assign(rx_n_, kNoSlot);
      slots_.detach();
      return -ENOBUFS;
    }
    rx_slot_[i] = s;
    rx_[i].addr = slot_addr(s);
    rx_[i].length = 0;
    rx_[i].status = 0;
    rx_[i].errors = 0;
  }
  for (uint32_t i = 0; i < tx_n_; i++) {
    tx_[i].addr = 0;
    tx_[i].lower = 0;
    tx_[i].upper = 0;
  }
  wmb();
  uint64_t rx_base = region_.device_addr(rx_ring_off_), tx_base = region_.device_addr(tx_ring_off_);
  pci::set_command_bits(pci_, true, true);
  // An earlier user may have died with the INTx line masked by the kernel
  // (uio_pci_generic masks it in config space when the interrupt fires, and
  // only the user unmasks it): unmask, or no wake-up would ever come.
  pci::irq_consume(pci_);
  pci::irq_unmask(pci_);
  write_reg(reg::RDBAL, static_cast<uint32_t>(rx_base));
  write_reg(reg::RDBAH, static_cast<uint32_t>(rx_base >> 32));
  write_reg(reg::RDLEN, rx_n_ * 16);
  write_reg(reg::RDH, 0);
  write_reg(reg::RDT, ring::rx_initial_tail(rx_n_));
  rx_next_ = ring::rx_next_to_check(ring::rx_initial_tail(rx_n_), rx_n_);
  write_reg(reg::TDBAL, static_cast<uint32_t>(tx_base));
  write_reg(reg::TDBAH, static_cast<uint32_t>(tx_base >> 32));
  write_reg(reg::TDLEN, tx_n_ * 16);
  write_reg(reg::TDH, 0);
  write_reg(reg::TDT, 0);
  tx_tail_ = tx_clean_ = 0;
  ctx_valid_ = false;
  rx_in_multi_ = false;
  write_reg(reg::TIPG, 0x0060200Au);
  write_reg(reg::TCTL, reg::TCTL_EN | reg::TCTL_PSP | (0x0Fu << reg::TCTL_CT_SHIFT) | (0x40u << reg::TCTL_COLD_SHIFT) |
                           reg::TCTL_RTLC);
  uint32_t rctl = reg::RCTL_EN | reg::RCTL_BAM | reg::RCTL_SECRC;
  if (opts_.promiscuous || opts_.loopback) rctl |= reg::RCTL_UPE | reg::RCTL_MPE;
  write_reg(reg::RCTL, rctl);
  started_ = true;
  // Link comes up at once on QEMU; give real hardware a moment.
  for (int i = 0; i < 100 && !link_up(); i++) sleep_us(10000);
  return 0;
}

void Device::set_multicast(const uint8_t* macs, size_t n) {
  if (!is_open() || faulted_) return;
  uint32_t table[kMtaRegisters];
  mta_table(macs, n, table);
  for (uint32_t i = 0; i < kMtaRegisters; i++) {
    if (table[i] == mta_[i]) continue;
    write_reg(reg::MTA + 4 * i, table[i]);
    mta_[i] = table[i];
  }
}

bool Device::link_up() { return is_open() && !faulted_ && (read_reg(reg::STATUS) & reg::STATUS_LU) != 0; }

bool Device::heads_sane() {
  if (!started_) return !faulted_;
  if (ring::head_in_ring(read_reg(reg::RDH), rx_n_) && ring::head_in_ring(read_reg(reg::TDH), tx_n_)) return true;
  // The device reports descriptors it cannot have: whatever it does next
  // (DMA through descriptors we never filled) is not to be trusted.
  c_.device_faults++;
  faulted_ = true;
  stop_dma();
  return false;
}

uint32_t Device::rx_burst(uint32_t* slots, uint32_t* lens, uint32_t max) {
  if (!started_) return 0;
  c_.rx_polls++;
  slots_.sync();
  uint32_t k = 0, idx = rx_next_, last = kNoSlot;
  while (k < max) {
    volatile RxDesc* d = &rx_[idx];
    uint8_t status = d->status;
    if (!(status & reg::RXD_DD)) break;
    rmb();
    uint8_t errors = d->errors;
    uint32_t len = d->length;
    // A frame longer than one buffer spans descriptors up to one with EOP
    // (only with long-packet reception, which we leave off): drop all of them,
    // not just the first, or its tail would pass for a frame.
    bool eop = (status & reg::RXD_EOP) != 0;
    bool part = !eop || rx_in_multi_;
    // The length is the device's word: JavaScript reads that many bytes of
    // the slot, so it never exceeds the buffer the descriptor had.
    bool bad_len = !ring::rx_length_ok(len, kRxBufSize);
    bool bad = part || (errors & (reg::RXE_CE | reg::RXE_SE | reg::RXE_SEQ | reg::RXE_CXE | reg::RXE_RXE)) || bad_len;
    if (bad) {
      // Keep the buffer in the ring; the frame is dropped.
      if (part) c_.rx_multi_desc++;
      if (eop) c_.rx_dropped_errors++;
      if (bad_len && !part) c_.rx_bad_length++;
      rx_in_multi_ = !eop;
    } else {
      uint32_t s = slots_.pop(slots::State::kRx);
      if (s == kNoSlot) {
        c_.rx_no_slot++;
        break;  // leave the descriptor for the next burst
      }
      uint32_t got = rx_slot_[idx];
      slots_.rx_to_js(got);
      slots[k] = got;
      lens[k] = len;
      k++;
      c_.rx_bytes += len;
      rx_slot_[idx] = s;
      d->addr = slot_addr(s);
    }
    d->length = 0;
    d->errors = 0;
    d->status = 0;
    last = idx;
    idx = ring::next(idx, rx_n_);
  }
  rx_next_ = idx;
  if (last != kNoSlot) {
    wmb();
    write_reg(reg::RDT, ring::rx_tail_after(last));
  }
  c_.rx_frames += k;
  if (k > 0) c_.rx_bursts++;
  return k;
}

uint32_t Device::tx_reclaim() {
  if (!started_) return 0;
  slots_.sync();
  return reclaim();
}

uint32_t Device::reclaim() {
  return ring::tx_reclaim(
      &tx_clean_, tx_tail_, tx_n_, [this](uint32_t i) { return (tx_[i].upper & reg::TXD_STA_DD) != 0; },
      [this](uint32_t i) {
        uint32_t s = tx_slot_[i];
        if (s != kNoSlot) {
          slots_.push(s);  // refused (counted) unless the slot is in the TX ring
          tx_slot_[i] = kNoSlot;
        }
      });
}

void Device::put_desc(const txctx::Desc& dd, uint32_t slot) {
  volatile TxDesc* d = &tx_[tx_tail_];
  d->addr = dd.addr;
  d->lower = dd.lower;
  d->upper = dd.upper;
  tx_slot_[tx_tail_] = slot;
  tx_tail_ = ring::next(tx_tail_, tx_n_);
}

bool Device::put_context(const txctx::Context& c) {
  if (ctx_valid_ && c == ctx_) return false;
  put_desc(txctx::context_descriptor(c), kNoSlot);
  ctx_ = c;
  ctx_valid_ = true;
  c_.tx_contexts++;
  return true;
}

// A whole-MSS TSO frame on QEMU's model, cut here into plain segments with
// checksum offload (see tx_context.h): segments 1..n-1 go into fresh slots
// from the free stack, segment 0 stays in the frame's own slot. Returns
// false (nothing done) when the ring or the free stack is short.
bool Device::tx_software_segments(uint32_t slot, uint8_t* f, const txctx::Plan& p) {
  constexpr uint32_t kMaxSegments = 64;
  const uint32_t n = txctx::segments(p), hdr = p.ctx.hdrlen, mss = p.ctx.mss;
  txctx::Plan sp = p;  // the segments' plain checksum context
  sp.kind = txctx::Kind::kChecksum;
  sp.ctx.tucmd = static_cast<uint8_t>(sp.ctx.tucmd & ~reg::TXD_CMD_TSE);
  sp.ctx.hdrlen = 0;
  sp.ctx.mss = 0;
  sp.ctx.paylen = 0;
  sp.popts = reg::POPTS_TXSM | reg::POPTS_IXSM;
  bool new_ctx = !ctx_valid_ || sp.ctx != ctx_;
  if (n < 2 || n > kMaxSegments || slots_.count() < n - 1 || ring::tx_free(tx_clean_, tx_tail_, tx_n_) < n + (new_ctx ? 1 : 0)) {
    return false;
  }
  uint32_t seg_slot[kMaxSegments];
  seg_slot[0] = slot;
  for (uint32_t i = 1; i < n; i++) {
    seg_slot[i] = slots_.pop(slots::State::kTx);
    if (seg_slot[i] == kNoSlot) {  // the stack held invalid entries: give back what was taken
      for (uint32_t j = 1; j < i; j++) slots_.push(seg_slot[j]);
      return false;
    }
  }
  put_context(sp.ctx);
  uint8_t* pool_base = pool();
  // Copies first, from the frame as the stack wrote it; segment 0's header last.
  for (uint32_t i = 1; i < n; i++) {
    uint32_t s = seg_slot[i];
    uint8_t* out = pool_base + static_cast<size_t>(s) * slot_size_;
    std::memcpy(out, f, hdr);
    std::memcpy(out + hdr, f + hdr + static_cast<size_t>(i) * mss, mss);
    txctx::segment_header(out, p, i, n, mss);
  }
  txctx::segment_header(f, p, 0, n, mss);
  for (uint32_t i = 0; i < n; i++) put_desc(txctx::data_descriptor(slot_addr(seg_slot[i]), hdr + mss, sp), seg_slot[i]);
  c_.tx_tso_software++;
  return true;
}

uint32_t Device::tx_burst(const uint32_t* slots, const uint32_t* lens, uint32_t n, TxRefusal* refusal) {
  if (refusal != nullptr) refusal->why = slots::Refusal::kNone;
  if (!started_) return 0;
  slots_.sync();
  // Every slot and length first, so a bad burst is refused whole: each slot
  // must be the caller's (not free, not in a ring, not twice in the burst)
  // and its frame must fit the slot and the descriptor's length field.
  const uint32_t max_len = slots::max_tx_frame(slot_size_);
  for (uint32_t i = 0; i < n; i++) {
    slots::Refusal why = slots::tx_length_ok(lens[i], slot_size_) ? slots_.claim_tx(slots[i]) : slots::Refusal::kLength;
    if (why == slots::Refusal::kLength && slots[i] >= slot_count_) why = slots::Refusal::kSlotRange;
    if (why != slots::Refusal::kNone) {
      for (uint32_t j = 0; j < i; j++) slots_.unclaim_tx(slots[j]);
      c_.tx_refused++;
      if (refusal != nullptr) {
        refusal->why = why;
        refusal->index = i;
        refusal->slot = slots[i];
        refusal->len = lens[i];
        refusal->max_len = max_len;
      }
      return 0;
    }
  }
  reclaim();
  uint32_t k = 0;
  uint8_t* pool_base = pool();
  txctx::Caps caps;
  caps.mtu = opts_.mtu;
  caps.csum = opts_.tx_checksum;
  caps.tso = tso();
  while (k < n) {
    uint32_t slot = slots[k], len = lens[k];
    uint8_t* f = pool_base + static_cast<size_t>(slot) * slot_size_;
    // Checksum offload for IPv4 TCP/UDP (the stack wrote the pseudo-header
    // sum), TSO for IPv4 TCP above the MTU: see tx_context.h.
    txctx::Plan p = txctx::plan(f, len, caps);
    if (p.kind == txctx::Kind::kTso && p.whole_mss && qemu_model_) {
      if (tx_software_segments(slot, f, p)) {
        c_.tx_tso_frames++;
        c_.tx_tso_segments += txctx::segments(p);
        c_.tx_csum_offloaded++;
        c_.tx_bytes += len;
        k++;
        continue;
      }
      txctx::avoid_whole_mss(p);  // no room to cut it here: k + 1 segments, none empty
    }
    bool new_ctx = p.kind != txctx::Kind::kPlain && (!ctx_valid_ || p.ctx != ctx_);
    if (ring::tx_free(tx_clean_, tx_tail_, tx_n_) < (new_ctx ? 2u : 1u)) {
      c_.tx_ring_full++;
      heads_sane();  // a full ring is also what a stuck device looks like
      break;
    }
    if (p.kind != txctx::Kind::kPlain) put_context(p.ctx);
    if (p.kind == txctx::Kind::kTso) {
      txctx::seed_tso(f, p);
      c_.tx_tso_frames++;
      c_.tx_tso_segments += txctx::segments(p);
      if (p.mss_lowered) c_.tx_tso_mss_lowered++;
    }
    if (p.kind != txctx::Kind::kPlain) c_.tx_csum_offloaded++;
    put_desc(txctx::data_descriptor(slot_addr(slot), len, p), slot);
    c_.tx_bytes += len;
    k++;
  }
  for (uint32_t i = k; i < n; i++) slots_.unclaim_tx(slots[i]);  // not sent: still the caller's
  if (k > 0 && started_) {  // (a device fault above stopped it: those frames are lost with the ring)
    wmb();
    write_reg(reg::TDT, tx_tail_);
    c_.tx_frames += k;
    c_.tx_bursts++;
    reclaim();  // QEMU transmits inside the TDT write
  }
  return k;
}

bool Device::arm_irq() {
  if (!started_) return false;
  // About to sleep: the moment to check the device still makes sense.
  if (!heads_sane()) return false;
  (void)read_reg(reg::ICR);  // drop stale causes from frames already handled
  write_reg(reg::IMS, reg::ICR_RXT0 | reg::ICR_RXO | reg::ICR_RXDMT0 | reg::ICR_LSC);
  rmb();
  // A frame that arrived before the ICR read would otherwise wait for the next one.
  return (rx_[rx_next_].status & reg::RXD_DD) != 0;
}

void Device::on_irq() {
  c_.irqs++;
  pci::irq_consume(pci_);
  if (!is_open()) return;
  write_reg(reg::IMC, 0xffffffffu);
  (void)read_reg(reg::ICR);  // deasserts the line
  pci::irq_unmask(pci_);
}

void Device::collect_hw_stats() {
  if (!is_open()) return;
  heads_sane();
  for (int i = 0; i < reg::kStatCount; i++) {
    uint64_t v = read_reg(reg::kStats[i].off);
    if (reg::kStats[i].wide) v |= static_cast<uint64_t>(read_reg(reg::kStats[i].off + 4)) << 32;
    hw_totals_[i] += v;
  }
}

void Device::stop_dma() {
  if (!is_open()) return;
  write_reg(reg::IMC, 0xffffffffu);
  write_reg(reg::RCTL, 0);
  write_reg(reg::TCTL, 0);
  (void)read_reg(reg::STATUS);
  pci::set_command_bits(pci_, true, false);
  started_ = false;
}

void Device::close() {
  if (is_open()) {
    collect_hw_stats();
    stop_dma();
    // Let an in-flight DMA finish before the memory goes away.
    sleep_us(1000);
  }
  uint64_t iova = region_.iova;
  size_t len = region_.size;
  if (iova != 0 && pci_.container_fd >= 0) pci::vfio_unmap_dma(pci_, len, iova);
  pci::close_device(pci_);
  dma::free_region(&region_);
  rx_ = nullptr;
  tx_ = nullptr;
  slots_.detach();
  started_ = false;
}

}  // namespace ustack::e1000
