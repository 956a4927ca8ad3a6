#include "shm/port.h"

namespace ustack::shm {

bool Port::attach(Region* region, uint32_t w) {
  const RegionHeader* h = region->header();
  if (w >= h->workers) return false;
  region_ = region;
  w_ = w;
  first_ = region->worker_first(w);
  per_ = h->worker_slots;
  slot_count_ = h->slot_count;
  slot_size_ = h->slot_size;
  down_.attach(region->down(w), region->down_entries(w), h->down_entries);
  up_.attach(region->up(w), region->up_entries(w), h->up_entries);
  unpublished_ = 0;
  return true;
}

uint32_t Port::rx_burst(uint32_t* slots, uint32_t* lens, uint8_t* flags, uint32_t max) {
  uint32_t got = 0;
  while (got < max) {
    // Returns take no room in the caller's arrays: look at as many as wait.
    uint32_t n = down_.available(max - got + 64);
    if (n == 0) break;
    uint32_t used = 0;
    for (; used < n && got < max; used++) {
      Entry e = down_.at(used);
      uint32_t type = entry_type(e);
      uint32_t s = e.w0;
      if (type == kDownReturn) {
        if (s < first_ || s >= first_ + per_ || stack_ == nullptr || stack_[0] >= cap_) {
          c_.bad_entries++;
          continue;
        }
        stack_[++stack_[0]] = s;
        c_.returns++;
        continue;
      }
      uint32_t len = entry_len(e);
      if (type != kDownFrame || s >= slot_count_ || len == 0 || len > slot_size_) {
        c_.bad_entries++;
        continue;
      }
      slots[got] = s;
      lens[got] = len;
      if (flags != nullptr) flags[got] = static_cast<uint8_t>(e.w2);
      got++;
      c_.rx_frames++;
      c_.rx_bytes += len;
    }
    down_.release(used);
    if (used < n) break;  // the caller's arrays are full
  }
  return got;
}

bool Port::push_up(uint32_t w0, uint32_t w1, uint32_t w2, uint32_t w3) {
  if (up_.free(unpublished_ + 1) <= unpublished_) return false;
  Entry& e = up_.at(unpublished_);
  e.w0 = w0;
  e.w1 = w1;
  e.w2 = w2;
  e.w3 = w3;
  unpublished_++;
  return true;
}

uint32_t Port::tx_burst(const uint32_t* slots, const uint32_t* lens, uint32_t n) {
  uint32_t k = 0;
  for (; k < n; k++) {
    if (!push_up(slots[k], type_word(kUpFrame, lens[k]), 0, 0)) {
      c_.tx_ring_full++;
      break;
    }
    c_.tx_frames++;
    c_.tx_bytes += lens[k];
  }
  return k;
}

uint32_t Port::release(const uint32_t* slots, uint32_t n) {
  uint32_t k = 0;
  for (; k < n; k++) {
    if (!push_up(slots[k], type_word(kUpRelease, 0), 0, 0)) break;
    c_.releases++;
  }
  return k;
}

bool Port::flow(bool add, uint8_t proto, uint32_t laddr, uint16_t lport, uint32_t raddr, uint16_t rport) {
  if (!push_up(raddr, type_word(add ? kUpFlowAdd : kUpFlowDel, proto), (static_cast<uint32_t>(rport) << 16) | lport, laddr)) {
    return false;
  }
  c_.flow_notices++;
  return true;
}

bool Port::publish() {
  if (unpublished_ == 0) return false;
  up_.submit(unpublished_);
  unpublished_ = 0;
  if (!up_.wake_needed()) return false;
  c_.owner_wakeups++;
  return true;
}

bool Port::steers_here(uint32_t laddr, uint16_t lport, uint32_t raddr, uint16_t rport) const {
  const RegionHeader* h = region_->shared();
  uint32_t bucket = hash_.ipv4_l4(raddr, laddr, rport, lport) & (kRetaSize - 1);
  uint8_t w = kNoWorker;
  // A table being written (odd sequence) or rewritten meanwhile is read
  // again; an owner that died mid-write leaves it odd, so the tries are bounded.
  for (int tries = 0; tries < 1000; tries++) {
    uint32_t seq = __atomic_load_n(&h->reta_seq, __ATOMIC_ACQUIRE);
    w = __atomic_load_n(&h->reta[bucket], __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if ((seq & 1) == 0 && __atomic_load_n(&h->reta_seq, __ATOMIC_RELAXED) == seq) break;
  }
  return w == w_;
}

}  // namespace ustack::shm
