// A worker's side of the shared rings: receives frames (owner slots) and
// its own slots coming back from transmit, sends frames, gives owner slots
// back, and announces its connections. Plain C++ over an attached Region
// (port_test.cc and owner_test.cc drive it against an Owner in one process).
//
// The worker's own partition is managed as a free stack shared with
// JavaScript (as the XDP and e1000 drivers share theirs): element 0 is the
// count, then the free slot indices. JavaScript pops and pushes without
// calling in; rx_burst pushes the slots the owner returns (kDownReturn),
// after checking each belongs to this worker's partition.
#pragma once
#include <cstdint>

#include "shm/protocol.h"
#include "shm/region.h"
#include "shm/toeplitz.h"

namespace ustack::shm {

struct PortCounters {
  uint64_t rx_frames = 0;
  uint64_t rx_bytes = 0;
  uint64_t returns = 0;        // own slots back from the owner
  uint64_t tx_frames = 0;
  uint64_t tx_bytes = 0;
  uint64_t tx_ring_full = 0;   // bursts cut short by a full up ring
  uint64_t releases = 0;
  uint64_t flow_notices = 0;
  uint64_t bad_entries = 0;    // down-ring entries naming a slot or type that makes no sense
  uint64_t owner_wakeups = 0;  // wake-ups we owed the owner (eventfd writes by the binding)
};

class Port {
 public:
  // w: this worker's place in the region. false when out of range.
  bool attach(Region* region, uint32_t w);
  uint32_t place() const { return w_; }
  uint32_t first_slot() const { return first_; }
  uint32_t own_slots() const { return per_; }

  // The free stack shared with JavaScript: stack[0] the count, room for
  // `capacity` indices after it.
  void set_free_stack(uint32_t* stack, uint32_t capacity) {
    stack_ = stack;
    cap_ = capacity;
  }
  void clear_free_stack() { stack_ = nullptr; cap_ = 0; }

  // Up to max received frames into slots/lens/flags (flags may be null);
  // returned slots on the way go onto the free stack.
  uint32_t rx_burst(uint32_t* slots, uint32_t* lens, uint8_t* flags, uint32_t max);
  // Queues n frames to send (slots below slot_count, lengths in [14, slot_size]:
  // the caller checked); returns how many the up ring took.
  uint32_t tx_burst(const uint32_t* slots, const uint32_t* lens, uint32_t n);
  // Gives n owner slots back; returns how many the ring took.
  uint32_t release(const uint32_t* slots, uint32_t n);
  // Announces a connection opened (add) or closed. false when the ring is full.
  bool flow(bool add, uint8_t proto, uint32_t laddr, uint16_t lport, uint32_t raddr, uint16_t rport);
  // Publishes what the calls above queued; true when the owner sleeps and
  // must be woken (an eventfd write by the caller).
  bool publish();

  // Before sleeping: false (awake again) when something waits.
  bool prepare_sleep() { return down_.prepare_sleep(); }
  void awake() { down_.awake(); }
  bool pending() const { return down_.pending(); }

  // Whether a reply from raddr:rport to laddr:lport would be steered to this
  // worker by the indirection table now (the local port choice, tcp-layer's
  // acceptsLocalPort). Reads the table under its sequence number.
  bool steers_here(uint32_t laddr, uint16_t lport, uint32_t raddr, uint16_t rport) const;
  // The Toeplitz hash of a flow in the receive direction.
  uint32_t hash(uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport) const {
    return hash_.ipv4_l4(saddr, daddr, sport, dport);
  }

  const PortCounters& counters() const { return c_; }
  uint32_t free_count() const { return stack_ == nullptr ? 0 : (stack_[0] < cap_ ? stack_[0] : cap_); }

 private:
  bool push_up(uint32_t w0, uint32_t w1, uint32_t w2, uint32_t w3);

  Region* region_ = nullptr;
  uint32_t w_ = 0, first_ = 0, per_ = 0, slot_count_ = 0, slot_size_ = 0;
  RingConsumer down_;
  RingProducer up_;
  uint32_t unpublished_ = 0;
  uint32_t* stack_ = nullptr;
  uint32_t cap_ = 0;
  Toeplitz12 hash_;
  PortCounters c_;
};

}  // namespace ustack::shm
