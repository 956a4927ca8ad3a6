// A single-producer, single-consumer ring of 16-byte entries in memory two
// processes share (region.h lays the rings out): the owner produces into a
// worker's down ring and consumes its up ring, the worker the other way
// round. Lock-free and bounded: a power-of-two array of entries plus a
// producer and a consumer index, free-running 32-bit counters that wrap;
// entries = producer - consumer (mod 2^32). Each side caches the other's
// index and reads it again (acquire) only when the cache says the ring is
// full or empty, and publishes its own (release) once per burst.
//
// Sleeping: a consumer that finds its ring empty and wants to sleep sets
// `sleeping` and looks at the producer index once more (prepare_sleep); a
// producer, after publishing, looks at `sleeping` (wake_needed) and, when it
// is set, clears it and wakes the consumer (an eventfd write, done by the
// caller). A full fence between the store and the load on both sides
// (Dekker's pattern) means that either the consumer sees the new entries or
// the producer sees the flag: no wake-up is lost, and none is sent while the
// consumer is awake.
//
// Nothing read from the other side is trusted: a worker can be buggy or
// killed in the middle of a burst. An index more than a ring away from ours
// reads as empty (consumer) or full (producer) and is counted; entries are
// copied out once and validated by the caller (owner.h); index arithmetic
// masks every access into the array.
#pragma once
#include <cstdint>

namespace ustack::shm {

// The three indices, each on its own cache line so the two sides do not
// bounce one line between cores.
struct RingHeader {
  alignas(64) uint32_t producer;
  alignas(64) uint32_t consumer;
  alignas(64) uint32_t sleeping;  // set by the consumer before it sleeps
};
static_assert(sizeof(RingHeader) == 192, "three cache lines");

// One entry; what the words mean is the ring's protocol (owner.h).
struct Entry {
  uint32_t w0, w1, w2, w3;
};
static_assert(sizeof(Entry) == 16, "16-byte entries");

inline uint32_t load_acquire(const uint32_t* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
inline void store_release(uint32_t* p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

// Resets a ring nobody uses (before a new worker attaches).
inline void ring_reset(RingHeader* h) {
  __atomic_store_n(&h->producer, 0u, __ATOMIC_RELAXED);
  __atomic_store_n(&h->consumer, 0u, __ATOMIC_RELAXED);
  __atomic_store_n(&h->sleeping, 0u, __ATOMIC_RELAXED);
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

class RingProducer {
 public:
  void attach(RingHeader* h, Entry* entries, uint32_t size) {
    h_ = h;
    e_ = entries;
    size_ = size;
    mask_ = size - 1;
    prod_ = load_acquire(&h->producer);
    cons_ = load_acquire(&h->consumer);
  }
  bool attached() const { return h_ != nullptr; }
  uint32_t size() const { return size_; }

  // Entries that can be written now (at most `want`... or more); reads the
  // consumer index again only when the cached one leaves fewer than `want`.
  uint32_t free(uint32_t want) {
    uint32_t n = size_ - (prod_ - cons_);
    if (n >= want) return n;
    uint32_t c = load_acquire(&h_->consumer);
    if (prod_ - c > size_) {  // ahead of what we produced, or a ring behind: not a consumer's index
      bad_index_++;
      return 0;
    }
    cons_ = c;
    return size_ - (prod_ - cons_);
  }
  // The i-th entry after the published producer index (i < free()).
  Entry& at(uint32_t i) { return e_[(prod_ + i) & mask_]; }
  // Publishes n written entries.
  void submit(uint32_t n) {
    prod_ += n;
    store_release(&h_->producer, prod_);
  }
  // After submit(): whether the consumer sleeps (it is then marked awake
  // and the caller must wake it).
  bool wake_needed() {
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (__atomic_load_n(&h_->sleeping, __ATOMIC_RELAXED) == 0) return false;
    return __atomic_exchange_n(&h_->sleeping, 0u, __ATOMIC_SEQ_CST) != 0;
  }
  // Entries the consumer has not taken yet (read fresh).
  uint32_t outstanding() const { return prod_ - load_acquire(&h_->consumer); }
  uint64_t bad_index() const { return bad_index_; }

 private:
  RingHeader* h_ = nullptr;
  Entry* e_ = nullptr;
  uint32_t size_ = 0, mask_ = 0, prod_ = 0, cons_ = 0;
  uint64_t bad_index_ = 0;
};

class RingConsumer {
 public:
  void attach(RingHeader* h, const Entry* entries, uint32_t size) {
    h_ = h;
    e_ = entries;
    size_ = size;
    mask_ = size - 1;
    cons_ = load_acquire(&h->consumer);
    prod_ = cons_;
  }
  bool attached() const { return h_ != nullptr; }

  // Entries that can be read now (at most `max`); reads the producer index
  // again only when the cached view is empty. A producer index more than a
  // ring ahead of us (or behind us) reads as empty and is counted.
  uint32_t available(uint32_t max) {
    uint32_t n = prod_ - cons_;
    if (n == 0) {
      uint32_t p = load_acquire(&h_->producer);
      if (p - cons_ > size_) {
        bad_index_++;
        return 0;
      }
      prod_ = p;
      n = p - cons_;
    }
    return n < max ? n : max;
  }
  // A copy of the i-th waiting entry (i < available()): the producer may be
  // a buggy process, so the caller validates the copy, never the original.
  Entry at(uint32_t i) const {
    const Entry* p = &e_[(cons_ + i) & mask_];
    Entry e;
    e.w0 = __atomic_load_n(&p->w0, __ATOMIC_RELAXED);
    e.w1 = __atomic_load_n(&p->w1, __ATOMIC_RELAXED);
    e.w2 = __atomic_load_n(&p->w2, __ATOMIC_RELAXED);
    e.w3 = __atomic_load_n(&p->w3, __ATOMIC_RELAXED);
    return e;
  }
  // Gives n read entries back to the producer.
  void release(uint32_t n) {
    cons_ += n;
    store_release(&h_->consumer, cons_);
  }
  // Before sleeping: marks this side asleep, then looks once more. False
  // (and awake again) when entries arrived meanwhile: do not sleep.
  bool prepare_sleep() {
    __atomic_store_n(&h_->sleeping, 1u, __ATOMIC_SEQ_CST);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (load_acquire(&h_->producer) != cons_) {
      __atomic_store_n(&h_->sleeping, 0u, __ATOMIC_SEQ_CST);
      return false;
    }
    return true;
  }
  // Awake again (a wake-up came, a timer, or the caller decided not to
  // sleep): the producer owes no wake-up now. Writes the shared line only
  // when the flag is set.
  void awake() {
    if (__atomic_load_n(&h_->sleeping, __ATOMIC_RELAXED) != 0) __atomic_store_n(&h_->sleeping, 0u, __ATOMIC_RELAXED);
  }
  // Whether entries wait (read fresh).
  bool pending() const { return load_acquire(&h_->producer) != cons_; }
  uint64_t bad_index() const { return bad_index_; }

 private:
  RingHeader* h_ = nullptr;
  const Entry* e_ = nullptr;
  uint32_t size_ = 0, mask_ = 0, prod_ = 0, cons_ = 0;
  uint64_t bad_index_ = 0;
};

}  // namespace ustack::shm
