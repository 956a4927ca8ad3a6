// The owner's table of flows pinned to a worker: which worker holds each
// TCP connection, whatever the indirection table says now. Workers announce
// their connections (a notice on the up ring before the first segment of
// the connection leaves), so the table is exact, not guessed from TCP flags;
// it keeps an established flow on its worker when the indirection table
// changes under it (a worker died, or a replacement took its buckets back).
// Keys are in the receive direction: remote address and port are the
// frame's source, local its destination.
//
// Open addressing with linear probing over a power-of-two array, at most
// three quarters full (an insert beyond that fails and is counted: such a
// flow then follows the indirection table like any new one), and
// backward-shift deletion, so no tombstones pile up under churn.
#pragma once
#include <cstdint>
#include <vector>

namespace ustack::shm {

struct FlowKey {
  uint32_t raddr = 0;
  uint32_t laddr = 0;
  uint16_t rport = 0;
  uint16_t lport = 0;
  uint8_t proto = 0;
  bool operator==(const FlowKey& o) const {
    return raddr == o.raddr && laddr == o.laddr && rport == o.rport && lport == o.lport && proto == o.proto;
  }
};

class FlowTable {
 public:
  static constexpr int kNone = -1;

  // capacity: a power of two (>= 4).
  void init(uint32_t capacity) {
    slots_.assign(capacity, Slot{});
    mask_ = capacity - 1;
    size_ = 0;
  }
  uint32_t size() const { return size_; }
  uint32_t capacity() const { return static_cast<uint32_t>(slots_.size()); }

  // Pins key to worker (a key already there moves to it). False when full.
  bool insert(const FlowKey& k, uint32_t hash, uint8_t worker) {
    uint32_t i = find(k, hash);
    if (i != kMissing) {
      slots_[i].worker = worker;
      return true;
    }
    if ((size_ + 1) * 4 > capacity() * 3) return false;
    for (i = hash & mask_;; i = (i + 1) & mask_) {
      if (!slots_[i].used) {
        slots_[i] = Slot{k, hash, worker, true};
        size_++;
        return true;
      }
    }
  }

  // The worker a key is pinned to, or kNone.
  int lookup(const FlowKey& k, uint32_t hash) const {
    uint32_t i = find(k, hash);
    return i == kMissing ? kNone : slots_[i].worker;
  }

  // Removes a key (only if pinned to `worker`, when that is not kNone).
  bool erase(const FlowKey& k, uint32_t hash, int worker = kNone) {
    uint32_t i = find(k, hash);
    if (i == kMissing || (worker != kNone && slots_[i].worker != worker)) return false;
    remove_at(i);
    return true;
  }

  // Removes every flow pinned to `worker`; returns how many (and, when
  // `removed` is not null, appends their keys to it).
  uint32_t erase_worker(uint8_t worker, std::vector<FlowKey>* removed = nullptr) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < capacity();) {
      if (slots_[i].used && slots_[i].worker == worker) {
        if (removed != nullptr) removed->push_back(slots_[i].key);
        remove_at(i);  // may pull a later entry into i: look at i again
        n++;
      } else {
        i++;
      }
    }
    return n;
  }

  uint32_t count_worker(uint8_t worker) const {
    uint32_t n = 0;
    for (const Slot& s : slots_) n += s.used && s.worker == worker;
    return n;
  }

 private:
  static constexpr uint32_t kMissing = 0xffffffffu;
  struct Slot {
    FlowKey key;
    uint32_t hash = 0;
    uint8_t worker = 0;
    bool used = false;
  };

  uint32_t find(const FlowKey& k, uint32_t hash) const {
    if (slots_.empty()) return kMissing;
    for (uint32_t i = hash & mask_, n = 0; n <= mask_; i = (i + 1) & mask_, n++) {
      const Slot& s = slots_[i];
      if (!s.used) return kMissing;
      if (s.hash == hash && s.key == k) return i;
    }
    return kMissing;
  }

  // Backward-shift deletion: entries after the hole whose home is at or
  // before it move up, so every entry stays reachable from its home.
  void remove_at(uint32_t i) {
    slots_[i].used = false;
    size_--;
    for (uint32_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
      if (!slots_[j].used) return;
      uint32_t home = slots_[j].hash & mask_;
      // j may move into the hole at i unless its home lies cyclically in (i, j].
      bool stays = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
      if (stays) continue;
      slots_[i] = slots_[j];
      slots_[j].used = false;
      i = j;
    }
  }

  std::vector<Slot> slots_;
  uint32_t mask_ = 0;
  uint32_t size_ = 0;
};

}  // namespace ustack::shm
