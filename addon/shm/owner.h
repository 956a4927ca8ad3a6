// The owner's side of software steering: the one process that drives the
// device hands each received frame to a worker by slot index, and takes the
// frames workers want sent, by slot index. Plain C++ over a Region (no
// device, no N-API: owner_test.cc runs owner and workers in one process).
//
// Steering (steer): ARP goes to the owner's own agent (JavaScript, rare
// frames); a TCP flow a worker announced goes to that worker (flow_table.h);
// UDP to a port of the workers' ephemeral range goes to the worker whose
// port it is — worker w takes the ports p with (p - low) % home_workers == w
// — since an unconnected socket's port is chosen before its peer is known,
// so no hash of the reply can be arranged;
// any other IPv4 frame goes where the Toeplitz hash of its 4-tuple (or
// 2-tuple for fragments and protocols without ports) points in the
// indirection table (RETA), as a NIC's RSS would send it to a queue; ICMP
// errors follow the flow they quote; other ICMP (echo) goes to one
// designated worker, the lowest live place. Bucket b's home is worker
// b % home_workers; while its home is not live, it is lent to the live
// workers in turn, and comes back when a worker takes the place again.
//
// Slot ownership: every slot has one holder, kept here and trusted over
// anything a worker writes: kFree (an owner slot on the owner's free list),
// kOwner (with the owner's JavaScript: being read into, waiting to be sent,
// answering ARP) or a worker place. A worker's entries are checked against
// it — a slot it does not hold, a length that does not fit, an unknown type
// are counted as faults and ignored — so a buggy worker cannot make the
// owner send or free a slot twice. A worker may hold at most rx_quota owner
// slots at once (a slow worker's frames are dropped, not everyone's).
//
// Workers die: remove_worker() takes the place out of the RETA, forgets its
// flows (their next segments reach a live worker, whose stack answers them
// with RST; the caller is told which, to make their peers send one), frees the owner slots it held, and marks its own partition
// home again; slots of that partition still with the owner (waiting to be
// sent) come home when they are done. add_worker() hands a new worker every
// slot of its partition that is home, by kDownReturn entries.
#pragma once
#include <cstdint>
#include <vector>

#include "shm/classify.h"
#include "shm/flow_table.h"
#include "shm/protocol.h"
#include "shm/region.h"
#include "shm/toeplitz.h"

namespace ustack::shm {

struct WorkerCounters {
  uint64_t rx_frames = 0;       // frames steered to it
  uint64_t rx_bytes = 0;
  uint64_t rx_quota_drops = 0;  // dropped: it held rx_quota owner slots already
  uint64_t rx_ring_full = 0;    // dropped: its down ring was full (it stopped consuming)
  uint64_t tx_frames = 0;       // frames it handed over to send
  uint64_t tx_bytes = 0;
  uint64_t arp_frames = 0;      // of those, ARP: to the owner's agent
  uint64_t releases = 0;        // owner slots it gave back
  uint64_t returns = 0;         // its own slots given back to it
  uint64_t flow_adds = 0;
  uint64_t flow_dels = 0;
  uint64_t flow_table_full = 0;
  uint64_t faults = 0;          // entries naming a slot it does not hold, bad lengths or types
  uint64_t wakeups = 0;         // wake-ups we owed it (eventfd writes by the binding)
  uint64_t joins = 0;
  uint64_t deaths = 0;
};

struct OwnerCounters {
  uint64_t rx_frames = 0;        // frames given to steer()
  uint64_t steered = 0;          // handed to a worker
  uint64_t arp = 0;              // ARP from the wire, to the owner's agent
  uint64_t steered_by_flow = 0;  // of the steered, by the flow table (the rest by the RETA)
  uint64_t drop_no_worker = 0;   // no live worker to take it
  uint64_t drop_not_ipv4 = 0;
  uint64_t drop_malformed = 0;
  uint64_t tx_frames = 0;        // sent (tx_done)
  uint64_t reta_changes = 0;
  uint64_t flows_forgotten = 0;  // flows of dead workers
  uint64_t slots_reclaimed = 0;  // owner slots freed from dead workers
  uint64_t bad_give_back = 0;    // give_back/deliver/queue_tx of a slot the owner does not hold
};

// How a slot is held, as census() counts it.
struct Census {
  uint32_t owner_free = 0;     // owner slots on the free list
  uint32_t owner_held = 0;     // slots (either partition) with the owner's JavaScript
  uint32_t at_worker[kMaxWorkers] = {};  // slots each worker place holds (its partition at home included)
};

// One steering decision, for tests and `trace`: the last kTraceSize kept.
struct TraceEntry {
  uint32_t slot, len, hash;
  uint8_t worker;
};

class Owner {
 public:
  static constexpr uint8_t kFree = 0xfe;
  static constexpr uint8_t kOwner = 0xff;
  static constexpr uint32_t kTraceSize = 256;
  enum class Place : uint8_t { kVacant, kJoined, kLive };

  // `region` created by the caller; the owner keeps a pointer. home_workers
  // in [1, region workers]; rx_quota in [1, owner_slots]; flow_capacity a
  // power of two. false when out of range.
  bool init(Region* region, uint32_t home_workers, uint32_t rx_quota, uint32_t flow_capacity);
  // The workers' UDP ephemeral range (0, 0: none): see the comment above.
  void set_udp_ephemeral(uint16_t low, uint16_t high) {
    udp_low_ = low;
    udp_high_ = high;
  }

  // Lends up to n free owner slots for a receive burst (they become kOwner).
  uint32_t take_rx(uint32_t* out, uint32_t n);
  // Steers the first `filled` of `given` slots take_rx lent (lens and, when
  // not null, per-frame receive flags); the rest go back to the free list.
  void steer(const uint32_t* slots, const uint32_t* lens, const uint8_t* flags, uint32_t filled, uint32_t given);
  // Takes every present worker's waiting up-ring entries: frames to send go
  // to the transmit backlog (ARP to the local backlog), releases free owner
  // slots, flow notices update the flow table.
  void drain();
  // The first (at most max) frames of the transmit backlog, still queued.
  uint32_t tx_peek(uint32_t* slots, uint32_t* lens, uint32_t max) const;
  // The first n of them were sent (or dropped by the device): give them back.
  void tx_done(uint32_t n);
  // The first n of them are with a device that completes later (AF_XDP's
  // TX ring): off the queue, still the owner's; give_back() each when done.
  void tx_sent(uint32_t n);
  uint32_t tx_backlog() const { return tx_.count; }
  // Owner slots on the free list: 0 means nothing can be received now.
  uint32_t free_slots() const { return static_cast<uint32_t>(free_.size()); }
  // ARP frames for the owner's agent: from the wire (from = kNoWorker) or a
  // worker. They are kOwner until deliver/give_back/queue_tx.
  uint32_t take_local(uint32_t* slots, uint32_t* lens, uint8_t* from, uint32_t max);
  // A kOwner slot to worker w as a received frame. False (and the slot given
  // back) when w is not present or cannot take it.
  bool deliver(uint32_t w, uint32_t slot, uint32_t len, uint32_t flags = 0);
  // A kOwner slot back where it belongs. False for a slot the owner does not hold.
  bool give_back(uint32_t slot);
  // A kOwner slot onto the transmit backlog.
  bool queue_tx(uint32_t slot, uint32_t len);

  // Membership. add_worker: the place must be vacant; its rings are reset
  // and its home slots handed over; it is not steered to until set_live.
  bool add_worker(uint32_t w);
  bool set_live(uint32_t w);
  // `forgotten`, when not null, receives the flows the worker held (the
  // owner probes their peers so they learn of the loss at once).
  bool remove_worker(uint32_t w, std::vector<FlowKey>* forgotten = nullptr);
  Place place(uint32_t w) const { return w < places_.size() ? places_[w] : Place::kVacant; }
  // The lowest live place (ICMP echo goes there), or kNoWorker.
  uint32_t icmp_worker() const;

  // Workers that must be woken (an eventfd write each), cleared by the call.
  uint64_t take_wakes() {
    uint64_t m = wakes_;
    wakes_ = 0;
    return m;
  }
  // Before the owner sleeps: marks every present worker's up ring, then
  // looks again. False (awake again) when anything waits: do not sleep.
  bool prepare_sleep();
  // Anything to do without new input: up-ring entries or a transmit backlog.
  bool pending() const;

  Census census() const;
  const OwnerCounters& counters() const { return c_; }
  const WorkerCounters& worker_counters(uint32_t w) const { return wc_[w]; }
  uint32_t flows() const { return flows_.size(); }
  uint32_t flows_of(uint32_t w) const { return flows_.count_worker(static_cast<uint8_t>(w)); }
  uint32_t rx_quota() const { return rx_quota_; }
  uint32_t owner_held_by(uint32_t w) const { return owner_held_[w]; }
  // The most recent steering decisions, oldest first.
  uint32_t trace(TraceEntry* out, uint32_t max) const;
  // The hash RSS computes for a flow in the receive direction, and where the RETA sends it.
  uint32_t hash_of(const FrameInfo& fi) const;
  uint8_t reta(uint32_t bucket) const { return region_->shared()->reta[bucket & (kRetaSize - 1)]; }

 private:
  struct Backlog {
    std::vector<uint32_t> slot, len;
    std::vector<uint8_t> from;
    uint32_t head = 0, count = 0;
    void init(uint32_t cap) {
      slot.assign(cap, 0);
      len.assign(cap, 0);
      from.assign(cap, 0);
      head = count = 0;
    }
    uint32_t cap() const { return static_cast<uint32_t>(slot.size()); }
    bool push(uint32_t s, uint32_t l, uint8_t f) {
      if (count == cap()) return false;
      uint32_t i = (head + count) % cap();
      slot[i] = s;
      len[i] = l;
      from[i] = f;
      count++;
      return true;
    }
    uint32_t at(uint32_t k) const { return (head + k) % cap(); }
    void pop(uint32_t n) {
      head = (head + n) % cap();
      count -= n;
    }
  };

  uint32_t choose(const FrameInfo& fi, uint32_t* hash, bool* by_flow) const;
  void free_owner_slot(uint32_t s);
  // give_back without publishing (the caller publishes once for a batch).
  bool return_home(uint32_t s);
  // Puts a frame on w's down ring (not yet published); false when it has no room.
  bool push_down(uint32_t w, uint32_t type, uint32_t slot, uint32_t len, uint32_t flags, uint32_t hash);
  // Publishes what push_down wrote, noting the workers to wake.
  void publish();
  void drain_worker(uint32_t w);
  void rebalance();
  bool present(uint32_t w) const { return w < places_.size() && places_[w] != Place::kVacant; }

  Region* region_ = nullptr;
  uint32_t slot_count_ = 0, slot_size_ = 0, owner_slots_ = 0, places_count_ = 0;
  uint32_t home_workers_ = 1;
  uint32_t rx_quota_ = 0;
  uint16_t udp_low_ = 0, udp_high_ = 0;
  Toeplitz12 hash_;
  FlowTable flows_;
  std::vector<uint8_t> holder_;
  std::vector<uint32_t> free_;  // owner slots, a stack
  std::vector<Place> places_;
  std::vector<uint32_t> owner_held_;  // owner slots each worker holds
  std::vector<RingProducer> down_;
  std::vector<RingConsumer> up_;
  std::vector<uint32_t> unpublished_;
  std::vector<WorkerCounters> wc_;
  Backlog tx_, local_;
  uint64_t wakes_ = 0;
  OwnerCounters c_;
  std::vector<TraceEntry> trace_;
  uint64_t trace_n_ = 0;
};

}  // namespace ustack::shm
