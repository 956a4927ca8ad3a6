// Ownership of the packet pool's slots and the free-slot stack shared with
// JavaScript, kept pure (no device, no N-API) so it can be unit-tested on its
// own (addon/e1000/ring_test.cc, run by scripts/test-native.sh). The e1000 and
// virtio drivers share it.
//
// The free stack is a Uint32Array that JavaScript pops (alloc) and pushes
// (release) without calling into C++: element 0 is the count, elements
// 1..count the free slot indices. JavaScript can write anything there, and
// under UIO a descriptor holds the physical address the NIC DMAs to, so
// nothing read from the stack is trusted: the count is bounded by the
// stack's capacity, every index is range-checked, and the driver keeps its
// own state for every slot:
//   kFree  the driver last saw it on the free stack, at pos_[slot]
//   kJs    outside the driver: handed to JavaScript by rx_burst, or taken
//          back from a refused or unsent TX burst
//   kRx    in the RX ring (the NIC may write it)
//   kTx    in the TX ring (the NIC may read it)
// A slot enters a ring only from kFree or kJs, so no slot is ever in two
// descriptors, and only a slot leaving a ring is pushed back.
//
// JavaScript's pops leave no trace (only the count moves), so a kFree slot
// may be one JavaScript holds: it counts as free only while the stack still
// holds it at pos_[slot] (on_stack()). sync(), at every driver entry, walks
// the stack down from the top to the first entry it knows (kFree at that very
// position) and checks what JavaScript pushed since: out-of-range indices,
// slots in a ring and second copies of a slot are removed (counted), the rest
// become kFree where they lie. Entries below the first known one are taken as
// they were; pop() checks every slot it takes again, so an entry that slipped
// past (slots popped and pushed back in another order) still never reaches a
// ring twice.
#pragma once
#include <cstdint>
#include <vector>

namespace ustack::slots {

enum class State : uint8_t { kFree, kJs, kRx, kTx };

// Why a slot JavaScript hands to TX is refused.
enum class Refusal : uint8_t {
  kNone,
  kSlotRange,    // not a slot of the pool
  kLength,       // frame length outside [kMinFrame, max]
  kOnFreeStack,  // released (or never allocated): it is on the free stack
  kInRx,         // in the RX ring: the NIC may be writing it
  kInTx,         // in the TX ring already: sent twice
};

// Repairs of the shared stack, each counted (JavaScript bugs or memory
// corruption; the driver carries on).
struct Faults {
  uint64_t bad_index = 0;      // out-of-range indices found on the free stack (removed)
  uint64_t in_ring = 0;        // slots found on the free stack while in a ring (removed)
  uint64_t duplicate = 0;      // second copies of a slot on the free stack (removed)
  uint64_t count_clamped = 0;  // count words above the stack's capacity (clamped)
  uint64_t push_refused = 0;   // pushes of a slot not in a ring, or onto a full stack (refused)
};

constexpr uint32_t kNoSlot = 0xffffffffu;
constexpr uint32_t kMinFrame = 14;      // an Ethernet header
constexpr uint32_t kMaxTxFrame = 65535; // legacy TX descriptor length field (16 bits)

// Largest frame one TX descriptor can carry from a slot of `slot_size` bytes.
inline uint32_t max_tx_frame(uint32_t slot_size) { return slot_size < kMaxTxFrame ? slot_size : kMaxTxFrame; }
inline bool tx_length_ok(uint32_t len, uint32_t slot_size) { return len >= kMinFrame && len <= max_tx_frame(slot_size); }

class Table {
 public:
  // `slot_count` slots, all outside the driver; no stack attached.
  void reset(uint32_t slot_count) {
    n_ = slot_count;
    state_.assign(n_, static_cast<uint8_t>(State::kJs));
    pos_.assign(n_, 0);
    stack_ = nullptr;
    cap_ = 0;
  }

  // Attaches the shared stack: stack[0] is the count, stack[1..capacity] the
  // room for indices. Then sync() validates everything on it.
  void attach(uint32_t* stack, uint32_t capacity) {
    stack_ = stack;
    cap_ = capacity < n_ ? capacity : n_;  // more than n_ distinct slots cannot be free
    for (uint32_t s = 0; s < n_; s++) {
      if (state_[s] == static_cast<uint8_t>(State::kFree)) state_[s] = static_cast<uint8_t>(State::kJs);
      pos_[s] = 0;
    }
    sync();
  }
  void detach() { stack_ = nullptr; cap_ = 0; }
  bool attached() const { return stack_ != nullptr; }

  uint32_t slot_count() const { return n_; }
  uint32_t capacity() const { return cap_; }
  State state(uint32_t s) const { return s < n_ ? static_cast<State>(state_[s]) : State::kJs; }
  const Faults& faults() const { return f_; }

  // Free entries on the stack (the count, bounded by the capacity).
  uint32_t count() const {
    if (stack_ == nullptr) return 0;
    return stack_[0] < cap_ ? stack_[0] : cap_;
  }

  // Whether the stack holds `s` right now where the driver last saw it.
  bool on_stack(uint32_t s) const {
    if (s >= n_ || state_[s] != static_cast<uint8_t>(State::kFree)) return false;
    uint32_t p = pos_[s];
    return p != 0 && p <= count() && stack_[p] == s;
  }

  // Checks what JavaScript pushed since the last call (see above).
  void sync() {
    if (stack_ == nullptr) return;
    uint32_t c = load_count();
    for (uint32_t p = c; p > 0; p--) {
      uint32_t s = stack_[p];
      if (s < n_ && state_[s] == static_cast<uint8_t>(State::kFree) && pos_[s] == p) break;  // known from here down
      if (s >= n_) {
        f_.bad_index++;
        remove_at(p, &c);
      } else if (in_ring(s)) {
        f_.in_ring++;
        remove_at(p, &c);
      } else if (held_elsewhere(s, p, c)) {
        f_.duplicate++;
        remove_at(p, &c);
      } else {
        state_[s] = static_cast<uint8_t>(State::kFree);
        pos_[s] = p;
      }
    }
    stack_[0] = c;
  }

  // Takes the top valid slot off the stack into state `to` (kRx or kTx);
  // invalid entries on the way are dropped (counted). kNoSlot when none is left.
  uint32_t pop(State to) {
    if (stack_ == nullptr) return kNoSlot;
    uint32_t c = load_count();
    while (c > 0) {
      uint32_t s = stack_[c];
      c--;
      if (s >= n_) {
        f_.bad_index++;
        continue;
      }
      if (in_ring(s)) {
        f_.in_ring++;
        continue;
      }
      // A second copy lower down would hand the slot out again: drop it now.
      if (held_elsewhere(s, c + 1, c)) {
        f_.duplicate++;
        remove_at(pos_[s], &c);
      }
      state_[s] = static_cast<uint8_t>(to);
      pos_[s] = 0;
      stack_[0] = c;
      return s;
    }
    stack_[0] = c;
    return kNoSlot;
  }

  // Puts a slot leaving a ring back on the stack. Refused (counted) for a
  // slot not in a ring (a double push) and when the stack is full (the slot
  // is then lost to the pool rather than written past the stack's end).
  bool push(uint32_t s) {
    if (s >= n_ || !in_ring(s) || stack_ == nullptr) {
      f_.push_refused++;
      return false;
    }
    uint32_t c = load_count();
    if (c >= cap_) {
      f_.push_refused++;
      state_[s] = static_cast<uint8_t>(State::kJs);
      return false;
    }
    stack_[++c] = s;
    stack_[0] = c;
    state_[s] = static_cast<uint8_t>(State::kFree);
    pos_[s] = c;
    return true;
  }

  // A slot JavaScript hands to TX: refused unless it is a pool slot outside
  // both rings and not on the free stack; accepted ones become kTx.
  Refusal claim_tx(uint32_t s) {
    if (s >= n_) return Refusal::kSlotRange;
    if (state_[s] == static_cast<uint8_t>(State::kRx)) return Refusal::kInRx;
    if (state_[s] == static_cast<uint8_t>(State::kTx)) return Refusal::kInTx;
    if (on_stack(s)) return Refusal::kOnFreeStack;
    state_[s] = static_cast<uint8_t>(State::kTx);
    pos_[s] = 0;
    return Refusal::kNone;
  }

  // Gives a claimed slot that was not sent back to JavaScript.
  void unclaim_tx(uint32_t s) {
    if (s < n_ && state_[s] == static_cast<uint8_t>(State::kTx)) state_[s] = static_cast<uint8_t>(State::kJs);
  }

  // A received frame's slot, from the RX ring to JavaScript.
  void rx_to_js(uint32_t s) {
    if (s < n_ && state_[s] == static_cast<uint8_t>(State::kRx)) state_[s] = static_cast<uint8_t>(State::kJs);
  }

 private:
  bool in_ring(uint32_t s) const {
    return state_[s] == static_cast<uint8_t>(State::kRx) || state_[s] == static_cast<uint8_t>(State::kTx);
  }
  // `s` (at position p) also lies at its recorded position, below the count c.
  bool held_elsewhere(uint32_t s, uint32_t p, uint32_t c) const {
    uint32_t q = pos_[s];
    return state_[s] == static_cast<uint8_t>(State::kFree) && q != 0 && q != p && q <= c && stack_[q] == s;
  }
  uint32_t load_count() {
    uint32_t c = stack_[0];
    if (c > cap_) {
      f_.count_clamped++;
      c = cap_;
      stack_[0] = c;
    }
    return c;
  }
  // Removes the entry at position p (1..*c): the top entry takes its place.
  void remove_at(uint32_t p, uint32_t* c) {
    uint32_t top = stack_[*c];
    if (p != *c) {
      stack_[p] = top;
      if (top < n_ && state_[top] == static_cast<uint8_t>(State::kFree) && pos_[top] == *c) pos_[top] = p;
    }
    (*c)--;
  }

  std::vector<uint8_t> state_;
  std::vector<uint32_t> pos_;  // kFree: where the driver last saw the slot on the stack (1-based; 0 = nowhere)
  uint32_t* stack_ = nullptr;
  uint32_t cap_ = 0;
  uint32_t n_ = 0;
  Faults f_;
};

}  // namespace ustack::slots
