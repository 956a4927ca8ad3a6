// The virtio-net poll-mode driver. See virtio_net.h; the initialisation
// follows virtio 1.x 3.1.1 (reset, ACKNOWLEDGE, DRIVER, features,
// FEATURES_OK, queues, DRIVER_OK) and 5.1.5.
#include "virtio/virtio_net.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace ustack::virtio {

namespace {

constexpr uint64_t kIova = 1ull << 30;  // where VFIO maps the region for the device
constexpr size_t kQueueAlign = 4096;
constexpr uint32_t kCtrlBufBytes = 64;  // class, cmd at 0; data at 16; ack at 48
constexpr uint8_t kCtrlMq = 4, kCtrlMqVqPairsSet = 0;
constexpr uint8_t kCtrlRx = 0, kCtrlRxPromisc = 0, kCtrlRxAllmulti = 1;
constexpr uint8_t kCtrlMac = 1, kCtrlMacTableSet = 0;
// Multicast groups one MAC_TABLE_SET carries in ctrl_command's 32 bytes (two entry counts, then 6 bytes each).
constexpr uint32_t kMacTableMax = (32 - 8) / 6;
constexpr uint8_t kCtrlOk = 0;
constexpr uint16_t kNetStatusLinkUp = 1;
constexpr uint32_t kNetCfgStatus = 6, kNetCfgMaxPairs = 8;
constexpr uint32_t kMinFrame = 14;

void sleep_us(long us) {
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
  ::nanosleep(&ts, nullptr);
}

size_t align_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

uint16_t pow2_floor(uint32_t v) {
  uint32_t p = 1;
  while (p * 2 <= v && p * 2 <= kMaxQueueSize) p *= 2;
  return static_cast<uint16_t>(p);
}

// A random locally administered unicast MAC, for a device without VIRTIO_NET_F_MAC.
void random_mac(uint8_t mac[6]) {
  int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  bool ok = fd >= 0 && ::read(fd, mac, 6) == 6;
  if (fd >= 0) ::close(fd);
  if (!ok) {
    uint64_t x = static_cast<uint64_t>(::time(nullptr)) * 0x9e3779b97f4a7c15ull ^ static_cast<uint64_t>(::getpid());
    for (int i = 0; i < 6; i++) mac[i] = static_cast<uint8_t>(x >> (8 * i));
  }
  mac[0] = static_cast<uint8_t>((mac[0] & 0xfe) | 0x02);
}

}  // namespace

bool supported_device(uint16_t vendor, uint16_t device, const char** model) {
  if (vendor != 0x1af4) return false;
  const char* m = nullptr;
  if (device == 0x1041) m = "virtio-net";
  else if (device == 0x1000) m = "virtio-net (transitional)";
  else return false;
  if (model != nullptr) *model = m;
  return true;
}

uint16_t flow_queue(const uint8_t* f, uint32_t len, uint16_t queues) {
  if (queues <= 1 || len < 34 || f[12] != 0x08 || f[13] != 0x00) return 0;
  const uint8_t* ip = f + 14;
  uint32_t ihl = (ip[0] & 0x0fu) * 4;
  uint32_t h = (static_cast<uint32_t>(ip[12]) << 24 | ip[13] << 16 | ip[14] << 8 | ip[15]) ^
               (static_cast<uint32_t>(ip[16]) << 24 | ip[17] << 16 | ip[18] << 8 | ip[19]) ^ ip[9];
  bool first_fragment = ((ip[6] & 0x1f) | ip[7]) == 0;  // offset 0: the ports are here
  bool no_fragments = first_fragment && !(ip[6] & 0x20);
  if (ihl >= 20 && no_fragments && (ip[9] == 6 || ip[9] == 17) && 14 + ihl + 4 <= len) {
    const uint8_t* l4 = ip + ihl;
    h ^= static_cast<uint32_t>(l4[0] << 8 | l4[1]) << 16 | static_cast<uint32_t>(l4[2] << 8 | l4[3]);
  }
  h ^= h >> 16;
  h *= 0x45d9f3bu;
  h ^= h >> 16;
  return static_cast<uint16_t>(h % queues);
}

std::string TxRefusal::message() const {
  std::string at = "txBurst: frame " + std::to_string(index) + ": slot " + std::to_string(slot);
  switch (why) {
    case slots::Refusal::kSlotRange: return at + " is not a slot of the pool";
    case slots::Refusal::kLength:
      return at + ": length " + std::to_string(len) + " is outside [" + std::to_string(kMinFrame) + ", " + std::to_string(max_len) + "]";
    case slots::Refusal::kOnFreeStack: return at + " is free (released, or never allocated): it cannot be sent";
    case slots::Refusal::kInRx: return at + " is in a receive queue (the driver owns it)";
    case slots::Refusal::kInTx: return at + " is already in a transmit queue (sent twice)";
    case slots::Refusal::kNone: break;
  }
  return at;
}

Device::~Device() { close(); }

int Device::open(const std::string& addr, pci::Access access, const Options& opts, Error* err) {
  opts_ = opts;
  if (opts.queue_pairs < 1 || opts.queue_pairs > kMaxQueuePairs) {
    return fail(err, "open", ERANGE, "ERR_OUT_OF_RANGE",
                "queues must be in [1, " + std::to_string(kMaxQueuePairs) + "], got " + std::to_string(opts.queue_pairs));
  }
  if (!valid_queue_size(opts.queue_size) || opts.queue_size < 4) {
    return fail(err, "open", EINVAL, "ERR_OUT_OF_RANGE", "queue size must be a power of two in [4, 32768]");
  }
  if (opts.slot_size != 0 && (opts.slot_size < 2048 || opts.slot_size > 65536 || (opts.slot_size & (opts.slot_size - 1)) != 0)) {
    return fail(err, "open", EINVAL, "ERR_OUT_OF_RANGE", "slot size must be a power of two in [2048, 65536]");
  }
  Error perr;
  int rc = pci::open_device(addr, access, &pci_, &perr, false);
  if (rc < 0) return fail(err, perr.syscall, -rc, perr.code, perr.message);
  auto close_fail = [&](const char* call, int e, std::string code, std::string msg) {
    close();
    return fail(err, call, e, std::move(code), std::move(msg));
  };
  if (!supported_device(pci_.vendor, pci_.device_id, nullptr)) {
    char ids[32];
    std::snprintf(ids, sizeof ids, "%04x:%04x", pci_.vendor, pci_.device_id);
    pci::close_device(pci_);
    return fail(err, "open", ENOTSUP, "ERR_USTACK_UNSUPPORTED_DEVICE",
                "device " + addr + " (" + ids + ") is not a virtio-net device (1af4:1041, or transitional 1af4:1000)");
  }
  Error terr;
  rc = t_.open(pci_, &terr);
  if (rc < 0) {
    pci::close_device(pci_);
    t_.detach();
    return fail(err, terr.syscall, -rc, terr.code, terr.message);
  }
  // Memory space on, bus master off while we take the device over; a reset
  // stops whatever a process that died left running.
  pci::set_command_bits(pci_, true, false);
  if (!t_.reset()) return close_fail("open", ETIMEDOUT, "", "virtio device " + addr + " did not complete its reset");
  t_.set_status(kStatusAcknowledge);
  t_.set_status(kStatusAcknowledge | kStatusDriver);
  offered_ = t_.device_features();
  Wants w;
  w.queue_pairs = opts.queue_pairs;
  w.tx_checksum = opts.tx_checksum;
  w.tso = opts.tso && opts.tx_checksum;
  w.vfio_iommu = access == pci::Access::kVfio && !pci_.noiommu;
  Error ferr;
  rc = negotiate(offered_, w, &features_, &ferr);
  if (rc < 0) {
    t_.set_status(kStatusFailed);
    return close_fail(ferr.syscall, -rc, ferr.code, ferr.message + " [device " + addr + "]");
  }
  t_.set_driver_features(features_);
  t_.set_status(kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
  if (!(t_.status() & kStatusFeaturesOk)) {
    t_.set_status(kStatusFailed);
    return close_fail("open", ENOTSUP, "ERR_USTACK_UNSUPPORTED_DEVICE",
                      "virtio device " + addr + " refused the features " + feature_names(features_));
  }

  // Device configuration, read again while its generation changes under us.
  for (int tries = 0; tries < 10; tries++) {
    uint8_t gen = t_.config_generation();
    if (features_ & feature::kMac) {
      for (uint32_t i = 0; i < 6; i++) mac_[i] = t_.device_cfg8(i);
    }
    max_pairs_ = (features_ & feature::kMq) ? t_.device_cfg16(kNetCfgMaxPairs) : 1;
    if (t_.config_generation() == gen) break;
  }
  if (!(features_ & feature::kMac)) random_mac(mac_);
  if (max_pairs_ < 1) max_pairs_ = 1;
  if (opts.queue_pairs > max_pairs_) {
    return close_fail("open", ERANGE, "ERR_OUT_OF_RANGE",
                      "queues=" + std::to_string(opts.queue_pairs) + " is out of range: device " + addr + " has " +
                          std::to_string(max_pairs_) + " queue pair" + (max_pairs_ == 1 ? "" : "s"));
  }
  pairs_ = opts.queue_pairs;
  bool ctrl = (features_ & feature::kCtrlVq) != 0;
  uint16_t ctrl_index = static_cast<uint16_t>(2 * max_pairs_);
  uint16_t need = static_cast<uint16_t>(ctrl ? ctrl_index + 1 : 2 * pairs_);
  if (t_.num_queues() < need || need > Transport::kMaxQueues) {
    return close_fail("open", ENOTSUP, "ERR_USTACK_UNSUPPORTED_DEVICE",
                      "virtio device " + addr + " has " + std::to_string(t_.num_queues()) + " queues, " + std::to_string(need) + " needed");
  }
  // One size for every data queue: ours, lowered to what each queue takes.
  uint32_t qsize = opts.queue_size;
  for (uint16_t q = 0; q < 2 * pairs_; q++) {
    uint16_t max = t_.queue_max_size(q);
    if (max < 4) return close_fail("open", ENOTSUP, "ERR_USTACK_UNSUPPORTED_DEVICE", "virtio queue " + std::to_string(q) + " is not available");
    if (max < qsize) qsize = max;
  }
  qsize_ = pow2_floor(qsize);
  if (ctrl) {
    uint16_t max = t_.queue_max_size(ctrl_index);
    ctrl_size_ = max < 4 ? 0 : pow2_floor(max < 16 ? max : 16);
    if (ctrl_size_ == 0) return close_fail("open", ENOTSUP, "ERR_USTACK_UNSUPPORTED_DEVICE", "the control queue is not available");
  }

  // Slot size: 64 KiB when TSO went through either way (a super-frame per slot).
  slot_size_ = opts.slot_size != 0 ? opts.slot_size : ((tso() || rx_gso()) ? kTsoSlotSize : kSlotSize);
  if (opts.mtu < 68 || opts.mtu + 18 > slot_size_) {
    return close_fail("open", EINVAL, "ERR_OUT_OF_RANGE",
                      "mtu must be in [68, " + std::to_string(slot_size_ - 18) + "] with " + std::to_string(slot_size_) + "-byte slots");
  }

  // DMA memory: each queue's ring and header array at 4 KiB boundaries, the
  // control queue and its buffer, then the slots. Rings and headers must lie
  // in one huge page (the device sees each structure as one contiguous range).
  const Layout ql = layout(qsize_);
  const size_t hdr_bytes = static_cast<size_t>(qsize_ / 2) * kHdrStride;
  const size_t per_queue = align_up(align_up(ql.bytes, 16) + hdr_bytes, kQueueAlign);
  size_t off = per_queue * 2 * pairs_;
  ctrl_ring_off_ = off;
  if (ctrl) off += align_up(layout(ctrl_size_).bytes, 64);
  ctrl_buf_off_ = off;
  off += kCtrlBufBytes;
  if (off > (2u << 20)) {
    return close_fail("open", EINVAL, "ERR_OUT_OF_RANGE", "queues too large: their rings must fit in 2 MiB");
  }
  const bool shared = opts.pool_fd >= 0;
  if (shared) {
    // A shared pool: the caller's huge-page memfd holds the slots (see virtio_net.h).
    if (access == pci::Access::kVfio && !pci_.noiommu) {
      return close_fail("open", ENOTSUP, "ERR_USTACK_UNSUPPORTED_DEVICE",
                        "a shared pool (shard workers) needs UIO: mapping it through the IOMMU for VFIO is not built yet");
    }
    if (opts.slot_count == 0 || opts.slot_size == 0 || opts.pool_offset % slot_size_ != 0 || opts.foreign_from > opts.slot_count) {
      return close_fail("open", EINVAL, "ERR_OUT_OF_RANGE", "a shared pool needs slotCount, slotSize and a slot-aligned offset");
    }
  }
  size_t align = slot_size_ > 4096 ? slot_size_ : 4096;
  slot_base_ = shared ? off : align_up(off, align);
  uint32_t chains = static_cast<uint32_t>(pairs_) * qsize_;  // rx + tx chains: qsize / 2 each
  uint32_t want_slots = opts.slot_count;
  if (want_slots == 0) {
    uint32_t by_mem = static_cast<uint32_t>((4u << 20) / slot_size_);
    want_slots = chains + 256 > by_mem ? chains + 256 : by_mem;
  }
  size_t want = shared ? off : slot_base_ + static_cast<size_t>(want_slots) * slot_size_;
  Error derr;
  if (access == pci::Access::kVfio && !pci_.noiommu) {
    rc = dma::alloc_anon(want, &region_, &derr);
    if (rc == 0) {
      rc = pci::vfio_map_dma(pci_, region_.virt, region_.size, kIova);
      if (rc < 0) {
        dma::free_region(&region_);
        return close_fail("ioctl(VFIO_IOMMU_MAP_DMA)", -rc, "", "");
      }
      dma::set_iova(&region_, kIova);
    }
  } else {
    rc = dma::alloc_hugetlb(want, &region_, &derr);
  }
  if (rc < 0) return close_fail(derr.syscall, -rc, derr.code, derr.message);
  if (shared) {
    rc = dma::map_hugetlb_fd(opts.pool_fd, &pool_region_, &derr);
    if (rc < 0) return close_fail(derr.syscall, -rc, derr.code, derr.message);
    if (pool_region_.page_size % slot_size_ != 0 ||
        opts.pool_offset + static_cast<uint64_t>(opts.slot_count) * slot_size_ > pool_region_.size) {
      return close_fail("open", EINVAL, "ERR_OUT_OF_RANGE", "the shared pool's slots do not fit its memfd's huge pages");
    }
    pool_base_ = pool_region_.virt + opts.pool_offset;
    slot_count_ = opts.slot_count;
  } else {
    pool_base_ = region_.virt + slot_base_;
    size_t fit = region_.size > slot_base_ ? (region_.size - slot_base_) / slot_size_ : 0;
    if (opts.slot_count != 0 && opts.slot_count < fit) fit = opts.slot_count;
    slot_count_ = static_cast<uint32_t>(fit);
  }
  uint32_t rx_chains = static_cast<uint32_t>(pairs_) * (qsize_ / 2u);
  if (slot_count_ < rx_chains + 32) {
    return close_fail("open", EINVAL, "ERR_OUT_OF_RANGE",
                      "slot pool too small: " + std::to_string(slot_count_) + " slots for " + std::to_string(rx_chains) +
                          " receive buffers (+32)");
  }
  slots_.reset(slot_count_);
  view_.base = pool();
  view_.slot_size = slot_size_;
  view_.slot_count = slot_count_;
  view_.region = shared ? &pool_region_ : &region_;
  view_.offset = shared ? opts.pool_offset : slot_base_;
  completed_.clear();

  rx_.assign(pairs_, RxQueue());
  tx_.assign(pairs_, TxQueue());
  bool mergeable = (features_ & feature::kMrgRxbuf) != 0;
  for (uint16_t i = 0; i < 2 * pairs_; i++) {
    size_t ring = per_queue * i, hdrs = ring + align_up(ql.bytes, 16);
    uint16_t p = static_cast<uint16_t>(i / 2);
    if (i % 2 == 0) rx_[p].init(region_.virt + ring, region_.virt + hdrs, dev_addr(hdrs), qsize_, slot_size_, mergeable);
    else tx_[p].init(region_.virt + ring, region_.virt + hdrs, dev_addr(hdrs), qsize_);
    PairQueue& pq = i % 2 == 0 ? rx_[p].q : tx_[p].q;
    pq.ring.set_interrupts(false);
    if (!t_.setup_queue(i, qsize_, dev_addr(ring + ql.desc), dev_addr(ring + ql.avail), dev_addr(ring + ql.used))) {
      return close_fail("open", EINVAL, "ERR_USTACK_UNSUPPORTED_DEVICE", "virtio queue " + std::to_string(i) + ": its doorbell lies outside the notify window");
    }
  }
  if (ctrl) {
    ctrl_.attach(region_.virt + ctrl_ring_off_, ctrl_size_);
    ctrl_.set_interrupts(false);
    Layout cl = layout(ctrl_size_);
    if (!t_.setup_queue(ctrl_index, ctrl_size_, dev_addr(ctrl_ring_off_ + cl.desc), dev_addr(ctrl_ring_off_ + cl.avail),
                        dev_addr(ctrl_ring_off_ + cl.used))) {
      return close_fail("open", EINVAL, "ERR_USTACK_UNSUPPORTED_DEVICE", "the control queue's doorbell lies outside the notify window");
    }
  }
  caps_.mtu = opts.mtu;
  caps_.csum = tx_csum();
  caps_.tso4 = tso();
  caps_.ecn = (features_ & feature::kHostEcn) != 0;
  faulted_ = false;
  started_ = false;
  return 0;
}

int Device::start(uint32_t* free_stack, uint32_t capacity, Error* err) {
  if (!is_open() || started_ || faulted_ || free_stack == nullptr) return fail(err, "start", EINVAL);
  slots_.attach(free_stack, capacity);
  for (uint16_t p = 0; p < pairs_; p++) {
    if (!rx_[p].fill(view_, &slots_)) {
      // Give back what the queues before took (the device holds nothing yet).
      for (uint16_t k = 0; k < p; k++) {
        for (uint16_t c = 0; c < rx_[k].q.chains(); c++) {
          if (rx_[k].q.out(c)) slots_.push(rx_[k].q.slot(c));
        }
      }
      slots_.detach();
      // Chains sit half-posted on the rings: this device must be opened again.
      faulted_ = true;
      stop_dma();
      return fail(err, "start", ENOBUFS, "", "not enough free slots for the receive queues");
    }
  }
  pci::set_command_bits(pci_, true, true);
  // An earlier user may have died with INTx masked (uio_pci_generic masks it
  // when the interrupt fires; only the user unmasks it).
  pci::irq_consume(pci_);
  (void)t_.isr();
  pci::irq_unmask(pci_);
  t_.set_status(kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
  started_ = true;
  if (features_ & feature::kMq) {
    uint8_t pairs[2] = {static_cast<uint8_t>(pairs_), static_cast<uint8_t>(pairs_ >> 8)};
    if (!ctrl_command(kCtrlMq, kCtrlMqVqPairsSet, pairs, sizeof pairs)) {
      stop_dma();
      return fail(err, "start", EIO, "ERR_USTACK_DEVICE_ERROR",
                  "the device did not accept VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET " + std::to_string(pairs_));
    }
  }
  for (uint16_t p = 0; p < pairs_; p++) {
    if (rx_[p].q.ring.device_wants_notify()) {
      t_.notify(static_cast<uint16_t>(2 * p));
      rx_[p].c.notifies++;
    }
  }
  return 0;
}

int Device::set_multicast(const uint8_t* macs, uint32_t n) {
  if (!is_open() || !started_) return -EBADF;
  if (!(features_ & feature::kCtrlRx)) return 0;
  uint8_t off = 0;
  uint8_t on = 1;
  if (n <= kMacTableMax) {
    // struct virtio_net_ctrl_mac twice (little-endian entry counts): no unicast entries, then the groups.
    uint8_t table[32] = {};
    table[4] = static_cast<uint8_t>(n);
    std::memcpy(table + 8, macs, 6 * n);
    if (!ctrl_command(kCtrlMac, kCtrlMacTableSet, table, 8 + 6 * n)) return -EIO;
    if (!ctrl_command(kCtrlRx, kCtrlRxAllmulti, &off, 1)) return -EIO;
  } else if (!ctrl_command(kCtrlRx, kCtrlRxAllmulti, &on, 1)) {
    return -EIO;
  }
  return ctrl_command(kCtrlRx, kCtrlRxPromisc, &off, 1) ? 0 : -EIO;
}

bool Device::ctrl_command(uint8_t cls, uint8_t cmd, const void* data, uint32_t len) {
  if (ctrl_size_ == 0 || len > 32) return false;
  c_.ctrl_commands++;
  uint8_t* buf = region_.virt + ctrl_buf_off_;
  buf[0] = cls;
  buf[1] = cmd;
  std::memcpy(buf + 16, data, len);
  buf[48] = 0xff;
  volatile Desc* d = ctrl_.desc();
  d[0].addr = dev_addr(ctrl_buf_off_);
  d[0].len = 2;
  d[0].flags = kDescNext;
  d[0].next = 1;
  d[1].addr = dev_addr(ctrl_buf_off_ + 16);
  d[1].len = len;
  d[1].flags = kDescNext;
  d[1].next = 2;
  d[2].addr = dev_addr(ctrl_buf_off_ + 48);
  d[2].len = 1;
  d[2].flags = kDescWrite;
  d[2].next = 0;
  ctrl_.add(0);
  ctrl_.publish();
  t_.notify(static_cast<uint16_t>(2 * max_pairs_));
  // QEMU answers inside the notify; real devices take a moment.
  for (int i = 0; i < 10000; i++) {
    uint32_t r = ctrl_.used_ready();
    if (r == Ring::kBadUsedIndex) break;
    if (r >= 1) {
      UsedElem e = ctrl_.peek(0);
      ctrl_.consume(1);
      __atomic_thread_fence(__ATOMIC_ACQUIRE);
      bool ok = e.id == 0 && buf[48] == kCtrlOk;
      if (!ok) c_.ctrl_failures++;
      return ok;
    }
    sleep_us(100);
  }
  c_.ctrl_failures++;
  return false;
}

void Device::fault() {
  c_.device_faults++;
  faulted_ = true;
  stop_dma();
}

bool Device::device_sane() {
  if (!started_) return !faulted_;
  uint8_t s = t_.status();
  // All ones: the device is gone; NEEDS_RESET: it gave up on us.
  if (s != 0xff && !(s & kStatusNeedsReset) && (s & kStatusDriverOk)) return true;
  fault();
  return false;
}

uint32_t Device::rx_burst(int queue, uint32_t* slots_out, uint32_t* lens, uint8_t* flags, uint32_t max) {
  if (!started_) return 0;
  slots_.sync();
  uint32_t k = 0;
  uint16_t first = queue >= 0 ? static_cast<uint16_t>(queue) : rx_next_;
  uint16_t count = queue >= 0 ? 1 : pairs_;
  for (uint16_t n = 0; n < count && k < max && started_; n++) {
    uint16_t p = static_cast<uint16_t>((first + n) % pairs_);
    RxQueue& rq = rx_[p];
    if (rq.q.ring.interrupts_on()) rq.q.ring.set_interrupts(false);
    uint16_t before = rq.q.ring.avail_idx();
    DeviceVerdict v;
    uint32_t got = rq.burst(view_, &slots_, slots_out + k, lens + k, flags != nullptr ? flags + k : nullptr, max - k, &v);
    k += got;
    if (v == DeviceVerdict::kFault) {
      fault();
      break;
    }
    if (rq.q.ring.avail_idx() != before && rq.q.ring.device_wants_notify()) {
      t_.notify(static_cast<uint16_t>(2 * p));
      rq.c.notifies++;
    }
  }
  if (queue < 0 && pairs_ > 1) rx_next_ = static_cast<uint16_t>((rx_next_ + 1) % pairs_);
  return k;
}

uint32_t Device::tx_reclaim() {
  if (!started_) return 0;
  slots_.sync();
  uint32_t n = 0;
  for (uint16_t p = 0; p < pairs_; p++) {
    DeviceVerdict v;
    n += tx_[p].reclaim(&slots_, &v, opts_.foreign_from, &completed_);
    if (v == DeviceVerdict::kFault) {
      fault();
      break;
    }
  }
  return n;
}

uint32_t Device::tx_burst(int queue, const uint32_t* slots_in, const uint32_t* lens, uint32_t n, TxRefusal* refusal) {
  if (refusal != nullptr) refusal->why = slots::Refusal::kNone;
  if (!started_) return 0;
  slots_.sync();
  // Every slot and length first, so a bad burst is refused whole.
  for (uint32_t i = 0; i < n; i++) {
    bool len_ok = lens[i] >= kMinFrame && lens[i] <= slot_size_;
    slots::Refusal why = len_ok ? slots_.claim_tx(slots_in[i]) : slots::Refusal::kLength;
    if (why == slots::Refusal::kLength && slots_in[i] >= slot_count_) why = slots::Refusal::kSlotRange;
    if (why != slots::Refusal::kNone) {
      for (uint32_t j = 0; j < i; j++) slots_.unclaim_tx(slots_in[j]);
      c_.tx_refused++;
      if (refusal != nullptr) {
        refusal->why = why;
        refusal->index = i;
        refusal->slot = slots_in[i];
        refusal->len = lens[i];
        refusal->max_len = slot_size_;
      }
      return 0;
    }
  }
  for (uint16_t p = 0; p < pairs_; p++) {
    DeviceVerdict v;
    tx_[p].reclaim(&slots_, &v, opts_.foreign_from, &completed_);
    if (v == DeviceVerdict::kFault) {
      fault();
      for (uint32_t j = 0; j < n; j++) slots_.unclaim_tx(slots_in[j]);
      return 0;
    }
  }
  uint32_t touched = 0, k = 0;
  for (; k < n; k++) {
    uint32_t s = slots_in[k];
    uint16_t p = queue >= 0 ? static_cast<uint16_t>(queue) : flow_queue(view_.ptr(s), lens[k], pairs_);
    if (!tx_[p].put(view_, s, lens[k], caps_)) {
      tx_[p].c.ring_full++;
      break;
    }
    touched |= 1u << p;
  }
  for (uint32_t i = k; i < n; i++) slots_.unclaim_tx(slots_in[i]);  // not sent: still the caller's
  for (uint16_t p = 0; p < pairs_; p++) {
    if (!(touched & (1u << p))) continue;
    tx_[p].flush();
    if (tx_[p].q.ring.device_wants_notify()) {
      t_.notify(static_cast<uint16_t>(2 * p + 1));
      tx_[p].c.notifies++;
    }
  }
  return k;
}

uint32_t Device::take_completed(uint32_t* out, uint32_t max) {
  uint32_t n = completed_.size() < max ? static_cast<uint32_t>(completed_.size()) : max;
  for (uint32_t i = 0; i < n; i++) out[i] = completed_[i];
  completed_.erase(completed_.begin(), completed_.begin() + n);
  return n;
}

uint32_t Device::rx_posted() const {
  uint32_t n = 0;
  for (const RxQueue& rq : rx_) {
    for (uint16_t c = 0; c < rq.q.chains(); c++) n += rq.q.out(c) ? 1 : 0;
  }
  return n;
}

bool Device::arm_irq() {
  if (!started_) return false;
  // About to sleep: the moment to check the device still makes sense.
  if (!device_sane()) return false;
  (void)t_.isr();  // drop a stale cause (a configuration change)
  bool waiting = false;
  for (uint16_t p = 0; p < pairs_; p++) {
    rx_[p].q.ring.set_interrupts(true);
    if (rx_[p].q.ring.used_after_enable()) waiting = true;
  }
  return waiting;
}

void Device::on_irq() {
  c_.irqs++;
  pci::irq_consume(pci_);
  if (!is_open()) return;
  (void)t_.isr();  // acknowledges, lowers INTx
  pci::irq_unmask(pci_);
  for (uint16_t p = 0; p < pairs_ && p < rx_.size(); p++) rx_[p].q.ring.set_interrupts(false);
}

bool Device::link_up() {
  if (!is_open() || faulted_) return false;
  if (!(features_ & feature::kStatus)) return true;
  return (t_.device_cfg16(kNetCfgStatus) & kNetStatusLinkUp) != 0;
}

void Device::stop_dma() {
  if (!is_open()) return;
  t_.set_status(0);  // reset: the device forgets its queues and stops DMA
  (void)t_.status();
  pci::set_command_bits(pci_, true, false);
  started_ = false;
}

void Device::close() {
  if (is_open()) {
    stop_dma();
    // Let an in-flight DMA finish before the memory goes away.
    sleep_us(1000);
  }
  t_.detach();
  uint64_t iova = region_.iova;
  size_t len = region_.size;
  if (iova != 0 && pci_.container_fd >= 0) pci::vfio_unmap_dma(pci_, len, iova);
  pci::close_device(pci_);
  dma::free_region(&region_);
  dma::free_region(&pool_region_);
  pool_base_ = nullptr;
  completed_.clear();
  rx_.clear();
  tx_.clear();
  slots_.detach();
  started_ = false;
}

}  // namespace ustack::virtio
