// The four AF_XDP rings as the user side drives them (the kernel is the
// other side of each): fill and TX are produced by us, RX and completion
// consumed by us. A ring is a power-of-two array of entries plus a producer
// and a consumer index, free-running 32-bit counters that wrap; entries =
// producer - consumer (mod 2^32). Each side caches the other's index and
// reads it again (acquire) only when the cache says the ring is full or
// empty, and publishes its own (release) once per burst, so a burst of N
// frames costs two shared-memory index writes, not N.
//
// Pure arithmetic over pointers the caller mmapped (xsk.cc) or, in the
// tests, ordinary memory (rings_test.cc).
#pragma once
#include <cstdint>

namespace ustack::xdp {

struct RingMemory {
  uint32_t* producer = nullptr;
  uint32_t* consumer = nullptr;
  uint32_t* flags = nullptr;  // XDP_RING_NEED_WAKEUP
  void* entries = nullptr;
  uint32_t size = 0;          // a power of two
};

inline uint32_t load_acquire(const uint32_t* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
inline void store_release(uint32_t* p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

// A ring we fill (fill ring: u64 addresses; TX ring: struct xdp_desc).
template <typename Entry>
class ProducerRing {
 public:
  void attach(const RingMemory& m) {
    m_ = m;
    mask_ = m.size - 1;
    prod_ = load_acquire(m.producer);
    cons_ = load_acquire(m.consumer) + m.size;  // cached consumer + size: free = cons_ - prod_
  }
  bool attached() const { return m_.entries != nullptr; }
  uint32_t size() const { return m_.size; }

  // How many entries can be written now (never more than the ring holds);
  // reads the consumer index again only when the cached view has fewer than
  // `want`. A consumer index ahead of what we produced, or more than a ring
  // behind it (a corrupt or hostile view), reads as a full ring: writing on
  // would overwrite entries the kernel has not taken.
  uint32_t free(uint32_t want) {
    uint32_t n = cons_ - prod_;
    if (n >= want && n <= m_.size) return n;
    cons_ = load_acquire(m_.consumer) + m_.size;
    n = cons_ - prod_;
    if (n > m_.size) {
      cons_ = prod_;
      return 0;
    }
    return n;
  }
  // The i-th entry after the published producer (i < free()).
  Entry& at(uint32_t i) { return static_cast<Entry*>(m_.entries)[(prod_ + i) & mask_]; }
  // Publishes n written entries.
  void submit(uint32_t n) {
    prod_ += n;
    store_release(m_.producer, prod_);
  }
  // Entries the kernel has not consumed yet.
  uint32_t outstanding() const { return prod_ - load_acquire(m_.consumer); }
  bool needs_wakeup() const { return (__atomic_load_n(m_.flags, __ATOMIC_RELAXED) & kNeedWakeup) != 0; }

  static constexpr uint32_t kNeedWakeup = 1;  // XDP_RING_NEED_WAKEUP

 private:
  RingMemory m_;
  uint32_t mask_ = 0;
  uint32_t prod_ = 0;
  uint32_t cons_ = 0;
};

// A ring the kernel fills (RX ring: struct xdp_desc; completion ring: u64).
template <typename Entry>
class ConsumerRing {
 public:
  void attach(const RingMemory& m) {
    m_ = m;
    mask_ = m.size - 1;
    cons_ = load_acquire(m.consumer);
    prod_ = load_acquire(m.producer);
  }
  bool attached() const { return m_.entries != nullptr; }

  // How many entries can be read now (at most `max`); reads the producer
  // index again only when the cached view is empty. A producer index more
  // than a ring ahead of us (a corrupt or hostile view) reads as empty.
  uint32_t available(uint32_t max) {
    uint32_t n = prod_ - cons_;
    if (n == 0) {
      prod_ = load_acquire(m_.producer);
      n = prod_ - cons_;
    }
    if (n > m_.size) {
      prod_ = cons_;
      return 0;
    }
    return n < max ? n : max;
  }
  const Entry& at(uint32_t i) const { return static_cast<const Entry*>(m_.entries)[(cons_ + i) & mask_]; }
  // Gives n read entries back to the kernel.
  void release(uint32_t n) {
    cons_ += n;
    store_release(m_.consumer, cons_);
  }
  // Entries waiting, read fresh (for the wake-up check).
  bool empty_now() const { return load_acquire(m_.producer) == cons_; }

 private:
  RingMemory m_;
  uint32_t mask_ = 0;
  uint32_t prod_ = 0;
  uint32_t cons_ = 0;
};

}  // namespace ustack::xdp
