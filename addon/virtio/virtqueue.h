// A split virtqueue (virtio 1.x 2.7) as the driver drives it: the
// descriptor table, the available ring the driver produces and the used ring
// the device produces. Pure index arithmetic over memory the caller gives
// (DMA memory in virtio_net.cc, ordinary memory in virtqueue_test.cc); no
// device access, no N-API.
//
// Indices are free-running 16-bit counters (avail->idx, used->idx, and the
// driver's shadow of each) that wrap at 2^16; a ring position is the index
// masked by n - 1 (n a power of two). Distances are differences mod 2^16,
// so they stay right across the wrap as long as fewer than 2^16 entries are
// outstanding, which a ring of at most 32768 entries guarantees.
//
// The driver publishes avail->idx once per burst (release: the entries and
// descriptors first), reads used->idx once per burst (acquire: the used
// elements after it), and suppresses the device's interrupts while it polls
// (VRING_AVAIL_F_NO_INTERRUPT). Before sleeping it enables them and looks at
// used->idx again after a full fence (used_after_enable): an element the
// device added before it saw the flag cleared is then seen there, one added
// after raises the interrupt. The device asks the driver not to notify
// (VRING_USED_F_NO_NOTIFY) while it is processing on its own (QEMU: a TX
// bottom half, RX buffers in hand); the driver notifies only when the flag
// is clear, read after a full fence that follows the publish.
//
// Little-endian layout (virtio 1.x); this code runs on x86-64 and arm64.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ustack::virtio {

struct Desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
static_assert(sizeof(Desc) == 16, "virtq_desc");

struct UsedElem {
  uint32_t id;
  uint32_t len;
};
static_assert(sizeof(UsedElem) == 8, "virtq_used_elem");

constexpr uint16_t kDescNext = 1;   // VIRTQ_DESC_F_NEXT
constexpr uint16_t kDescWrite = 2;  // VIRTQ_DESC_F_WRITE: device-writable
constexpr uint16_t kAvailNoInterrupt = 1;  // VIRTQ_AVAIL_F_NO_INTERRUPT
constexpr uint16_t kUsedNoNotify = 1;      // VIRTQ_USED_F_NO_NOTIFY
constexpr uint32_t kMaxQueueSize = 32768;

inline bool valid_queue_size(uint32_t n) { return n >= 2 && n <= kMaxQueueSize && (n & (n - 1)) == 0; }

// Where the three parts of a queue of n entries lie, from the start of its
// memory: descriptors (16 n bytes, 16-aligned), available ring
// (flags, idx, ring[n], used_event: 6 + 2 n bytes, 2-aligned), used ring
// (flags, idx, ring[n], avail_event: 6 + 8 n bytes, 4-aligned).
struct Layout {
  size_t desc = 0, avail = 0, used = 0, bytes = 0;
};
inline Layout layout(uint32_t n) {
  Layout l;
  l.desc = 0;
  l.avail = 16u * static_cast<size_t>(n);
  l.used = (l.avail + 6 + 2u * static_cast<size_t>(n) + 3) & ~static_cast<size_t>(3);
  l.bytes = l.used + 6 + 8u * static_cast<size_t>(n);
  return l;
}

// Entries from index `from` to index `to`, mod 2^16.
inline uint16_t distance(uint16_t from, uint16_t to) { return static_cast<uint16_t>(to - from); }

class Ring {
 public:
  // `mem` holds layout(n).bytes bytes, zeroed (a reset device's queue).
  void attach(uint8_t* mem, uint16_t n) {
    Layout l = layout(n);
    n_ = n;
    mask_ = static_cast<uint16_t>(n - 1);
    desc_ = reinterpret_cast<volatile Desc*>(mem + l.desc);
    avail_ = reinterpret_cast<volatile uint16_t*>(mem + l.avail);
    used_ = reinterpret_cast<volatile uint16_t*>(mem + l.used);
    used_ring_ = reinterpret_cast<volatile UsedElem*>(mem + l.used + 4);
    avail_idx_ = 0;
    last_used_ = 0;
  }
  bool attached() const { return desc_ != nullptr; }
  uint16_t size() const { return n_; }
  volatile Desc* desc() const { return desc_; }

  // ---- available ring (ours) ----
  // Puts a chain's head on the ring; the device sees it after publish().
  void add(uint16_t head) {
    avail_[2 + (avail_idx_ & mask_)] = head;
    avail_idx_++;
  }
  // Entries added but not yet published.
  uint16_t unpublished() const { return distance(avail_[1], avail_idx_); }
  void publish() {
    __atomic_thread_fence(__ATOMIC_RELEASE);
    avail_[1] = avail_idx_;
  }
  // Heads on the available ring the used ring has not given back (reaped) yet.
  uint16_t outstanding() const { return distance(last_used_, avail_idx_); }

  // ---- used ring (the device's) ----
  // Elements the device has returned and we have not consumed, or
  // kBadUsedIndex when the device's index claims more than we gave it.
  static constexpr uint32_t kBadUsedIndex = 0x10000;
  uint32_t used_ready() const {
    uint16_t u = used_[1];
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    uint16_t r = distance(last_used_, u);
    return r > outstanding() ? kBadUsedIndex : r;
  }
  // The i-th element not consumed yet (i < used_ready()).
  UsedElem peek(uint16_t i) const {
    volatile UsedElem* e = &used_ring_[static_cast<uint16_t>(last_used_ + i) & mask_];
    return UsedElem{e->id, e->len};
  }
  void consume(uint16_t k) { last_used_ = static_cast<uint16_t>(last_used_ + k); }

  // ---- notifications ----
  void set_interrupts(bool on) { avail_[0] = on ? 0 : kAvailNoInterrupt; }
  bool interrupts_on() const { return (avail_[0] & kAvailNoInterrupt) == 0; }
  // After enabling interrupts: whether an element is already waiting (the
  // caller must not sleep). The full fence orders our flag store before the
  // index load, as the device orders its index store before its flag load.
  bool used_after_enable() const {
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return used_[1] != last_used_;
  }
  // After publish(): whether the device wants a notification.
  bool device_wants_notify() const {
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return (used_[0] & kUsedNoNotify) == 0;
  }

  uint16_t avail_idx() const { return avail_idx_; }
  uint16_t last_used() const { return last_used_; }

  // Tests only: starts both shadows (and the published index) at `idx`, as
  // if that many entries had gone round already (the 16-bit wrap, quickly).
  void start_at_for_test(uint16_t idx) {
    avail_idx_ = idx;
    last_used_ = idx;
    avail_[1] = idx;
    used_[1] = idx;
  }

 private:
  uint16_t n_ = 0, mask_ = 0;
  volatile Desc* desc_ = nullptr;
  volatile uint16_t* avail_ = nullptr;  // [0] flags, [1] idx, [2..] ring
  volatile uint16_t* used_ = nullptr;   // [0] flags, [1] idx
  volatile UsedElem* used_ring_ = nullptr;
  uint16_t avail_idx_ = 0;  // next avail->idx to publish
  uint16_t last_used_ = 0;  // next used element to consume
};

}  // namespace ustack::virtio
