#include "shm/owner.h"

namespace ustack::shm {

namespace {
constexpr uint32_t kMinFrame = 14;
constexpr uint16_t kEtherArp = 0x0806;
}  // namespace

bool Owner::init(Region* region, uint32_t home_workers, uint32_t rx_quota, uint32_t flow_capacity) {
  const RegionHeader* h = region->header();
  if (home_workers < 1 || home_workers > h->workers || rx_quota < 1 || rx_quota > h->owner_slots) return false;
  if (flow_capacity < 4 || (flow_capacity & (flow_capacity - 1)) != 0) return false;
  region_ = region;
  slot_count_ = h->slot_count;
  slot_size_ = h->slot_size;
  owner_slots_ = h->owner_slots;
  places_count_ = h->workers;
  home_workers_ = home_workers;
  rx_quota_ = rx_quota;
  flows_.init(flow_capacity);
  holder_.assign(slot_count_, kFree);
  for (uint32_t s = owner_slots_; s < slot_count_; s++) holder_[s] = static_cast<uint8_t>(region->home_of(s));
  free_.clear();
  free_.reserve(owner_slots_);
  for (uint32_t s = owner_slots_; s > 0; s--) free_.push_back(s - 1);  // slot 0 on top
  places_.assign(places_count_, Place::kVacant);
  owner_held_.assign(places_count_, 0);
  down_.assign(places_count_, RingProducer{});
  up_.assign(places_count_, RingConsumer{});
  unpublished_.assign(places_count_, 0);
  wc_.assign(places_count_, WorkerCounters{});
  tx_.init(slot_count_);
  local_.init(slot_count_);
  trace_.assign(kTraceSize, TraceEntry{});
  rebalance();
  return true;
}

uint32_t Owner::take_rx(uint32_t* out, uint32_t n) {
  uint32_t k = 0;
  while (k < n && !free_.empty()) {
    uint32_t s = free_.back();
    free_.pop_back();
    holder_[s] = kOwner;
    out[k++] = s;
  }
  return k;
}

void Owner::free_owner_slot(uint32_t s) {
  holder_[s] = kFree;
  free_.push_back(s);
}

uint32_t Owner::hash_of(const FrameInfo& fi) const {
  if (fi.kind == Kind::kFlow || fi.kind == Kind::kIcmpError) return hash_.ipv4_l4(fi.saddr, fi.daddr, fi.sport, fi.dport);
  return hash_.ipv4(fi.saddr, fi.daddr);
}

uint32_t Owner::icmp_worker() const {
  for (uint32_t w = 0; w < places_count_; w++) {
    if (places_[w] == Place::kLive) return w;
  }
  return kNoWorker;
}

// Which worker a classified IPv4 frame goes to (kNoWorker: none can take it).
uint32_t Owner::choose(const FrameInfo& fi, uint32_t* hash, bool* by_flow) const {
  *by_flow = false;
  if (fi.kind == Kind::kIcmp) {
    *hash = hash_of(fi);
    return icmp_worker();
  }
  *hash = hash_of(fi);
  if ((fi.kind == Kind::kFlow || fi.kind == Kind::kIcmpError) && fi.proto == kProtoTcp) {
    FlowKey k{fi.saddr, fi.daddr, fi.sport, fi.dport, fi.proto};
    int w = flows_.lookup(k, *hash);
    if (w != FlowTable::kNone && places_[static_cast<uint32_t>(w)] == Place::kLive) {
      *by_flow = true;
      return static_cast<uint32_t>(w);
    }
  }
  if (fi.kind == Kind::kFlow && fi.proto == kProtoUdp && udp_low_ != 0 && fi.dport >= udp_low_ && fi.dport <= udp_high_) {
    uint32_t w = (fi.dport - udp_low_) % home_workers_;
    if (places_[w] == Place::kLive) return w;
  }
  uint8_t w = region_->shared()->reta[*hash & (kRetaSize - 1)];
  return w < places_count_ && places_[w] == Place::kLive ? w : kNoWorker;
}

bool Owner::push_down(uint32_t w, uint32_t type, uint32_t slot, uint32_t len, uint32_t flags, uint32_t hash) {
  RingProducer& r = down_[w];
  if (r.free(unpublished_[w] + 1) <= unpublished_[w]) return false;
  Entry& e = r.at(unpublished_[w]);
  e.w0 = slot;
  e.w1 = type_word(type, len);
  e.w2 = flags;
  e.w3 = hash;
  unpublished_[w]++;
  return true;
}

void Owner::publish() {
  for (uint32_t w = 0; w < places_count_; w++) {
    if (unpublished_[w] == 0) continue;
    down_[w].submit(unpublished_[w]);
    unpublished_[w] = 0;
    if (down_[w].wake_needed()) {
      wakes_ |= 1ull << w;
      wc_[w].wakeups++;
    }
  }
}

void Owner::steer(const uint32_t* slots, const uint32_t* lens, const uint8_t* flags, uint32_t filled, uint32_t given) {
  const uint8_t* pool = region_->pool();
  for (uint32_t i = 0; i < given; i++) {
    uint32_t s = slots[i];
    // Only slots take_rx lent (the binding checked the range; the holder says the rest).
    if (s >= owner_slots_ || holder_[s] != kOwner) {
      c_.bad_give_back++;
      continue;
    }
    if (i >= filled) {
      free_owner_slot(s);
      continue;
    }
    uint32_t len = lens[i];
    c_.rx_frames++;
    if (len > slot_size_) len = slot_size_;
    FrameInfo fi = classify(pool + static_cast<size_t>(s) * slot_size_, len);
    if (fi.kind == Kind::kArp) {
      c_.arp++;
      local_.push(s, len, kNoWorker);  // the backlog holds every slot: never full
      continue;
    }
    if (fi.kind == Kind::kNotIpv4 || fi.kind == Kind::kMalformed) {
      if (fi.kind == Kind::kNotIpv4) c_.drop_not_ipv4++;
      else c_.drop_malformed++;
      free_owner_slot(s);
      continue;
    }
    uint32_t hash = 0;
    bool by_flow = false;
    uint32_t w = choose(fi, &hash, &by_flow);
    if (w == kNoWorker) {
      c_.drop_no_worker++;
      free_owner_slot(s);
      continue;
    }
    if (owner_held_[w] >= rx_quota_) {
      wc_[w].rx_quota_drops++;
      free_owner_slot(s);
      continue;
    }
    if (!push_down(w, kDownFrame, s, len, flags != nullptr ? flags[i] : 0, hash)) {
      wc_[w].rx_ring_full++;
      free_owner_slot(s);
      continue;
    }
    holder_[s] = static_cast<uint8_t>(w);
    owner_held_[w]++;
    c_.steered++;
    if (by_flow) c_.steered_by_flow++;
    wc_[w].rx_frames++;
    wc_[w].rx_bytes += len;
    trace_[trace_n_++ % kTraceSize] = TraceEntry{s, len, hash, static_cast<uint8_t>(w)};
  }
  publish();
}

void Owner::drain() {
  for (uint32_t w = 0; w < places_count_; w++) {
    if (!present(w)) continue;
    up_[w].awake();
    drain_worker(w);
  }
  publish();
}

void Owner::drain_worker(uint32_t w) {
  RingConsumer& r = up_[w];
  WorkerCounters& wc = wc_[w];
  const uint8_t* pool = region_->pool();
  for (;;) {
    uint32_t n = r.available(256);
    if (n == 0) return;
    for (uint32_t i = 0; i < n; i++) {
      Entry e = r.at(i);  // a copy: checked and used from here
      uint32_t type = entry_type(e);
      if (type == kUpFlowAdd || type == kUpFlowDel) {
        FlowKey k{e.w0, e.w3, static_cast<uint16_t>(e.w2 >> 16), static_cast<uint16_t>(e.w2 & 0xffff),
                  static_cast<uint8_t>(e.w1 & 0xff)};
        uint32_t h = hash_.ipv4_l4(k.raddr, k.laddr, k.rport, k.lport);
        if (type == kUpFlowAdd) {
          wc.flow_adds++;
          if (!flows_.insert(k, h, static_cast<uint8_t>(w))) wc.flow_table_full++;
        } else {
          wc.flow_dels++;
          flows_.erase(k, h, static_cast<int>(w));
        }
        continue;
      }
      uint32_t s = e.w0;
      if (s >= slot_count_ || holder_[s] != w) {
        wc.faults++;
        continue;
      }
      bool owner_slot = s < owner_slots_;
      if (type == kUpRelease) {
        if (!owner_slot) {
          wc.faults++;  // its own slots stay with it
          continue;
        }
        owner_held_[w]--;
        free_owner_slot(s);
        wc.releases++;
        continue;
      }
      uint32_t len = entry_len(e);
      if (type != kUpFrame || len < kMinFrame || len > slot_size_) {
        wc.faults++;
        continue;
      }
      if (owner_slot) owner_held_[w]--;
      holder_[s] = kOwner;
      wc.tx_frames++;
      wc.tx_bytes += len;
      const uint8_t* f = pool + static_cast<size_t>(s) * slot_size_;
      if (((f[12] << 8) | f[13]) == kEtherArp) {
        wc.arp_frames++;
        local_.push(s, len, static_cast<uint8_t>(w));
      } else {
        tx_.push(s, len, static_cast<uint8_t>(w));
      }
    }
    r.release(n);
  }
}

uint32_t Owner::tx_peek(uint32_t* slots, uint32_t* lens, uint32_t max) const {
  uint32_t n = tx_.count < max ? tx_.count : max;
  for (uint32_t k = 0; k < n; k++) {
    uint32_t i = tx_.at(k);
    slots[k] = tx_.slot[i];
    lens[k] = tx_.len[i];
  }
  return n;
}

void Owner::tx_done(uint32_t n) {
  if (n > tx_.count) n = tx_.count;
  for (uint32_t k = 0; k < n; k++) return_home(tx_.slot[tx_.at(k)]);
  tx_.pop(n);
  c_.tx_frames += n;
  publish();
}

void Owner::tx_sent(uint32_t n) {
  if (n > tx_.count) n = tx_.count;
  tx_.pop(n);
  c_.tx_frames += n;
}

uint32_t Owner::take_local(uint32_t* slots, uint32_t* lens, uint8_t* from, uint32_t max) {
  uint32_t n = local_.count < max ? local_.count : max;
  for (uint32_t k = 0; k < n; k++) {
    uint32_t i = local_.at(k);
    slots[k] = local_.slot[i];
    lens[k] = local_.len[i];
    from[k] = local_.from[i];
  }
  local_.pop(n);
  return n;
}

bool Owner::give_back(uint32_t s) {
  bool ok = return_home(s);
  publish();
  return ok;
}

bool Owner::return_home(uint32_t s) {
  if (s >= slot_count_ || holder_[s] != kOwner) {
    c_.bad_give_back++;
    return false;
  }
  if (s < owner_slots_) {
    free_owner_slot(s);
    return true;
  }
  uint32_t home = region_->home_of(s);
  holder_[s] = static_cast<uint8_t>(home);  // home: with its worker, or waiting for the next one
  if (present(home)) {
    if (push_down(home, kDownReturn, s, 0, 0, 0)) wc_[home].returns++;
    else wc_[home].rx_ring_full++;  // it stopped consuming: its loss, the slot is still counted as its own
  }
  return true;
}

bool Owner::deliver(uint32_t w, uint32_t s, uint32_t len, uint32_t flags) {
  if (s >= slot_count_ || holder_[s] != kOwner) {
    c_.bad_give_back++;
    return false;
  }
  if (w >= places_count_ || !present(w) || len < kMinFrame || len > slot_size_ ||
      (s < owner_slots_ && owner_held_[w] >= rx_quota_) || !push_down(w, kDownFrame, s, len, flags, 0)) {
    give_back(s);
    publish();
    return false;
  }
  holder_[s] = static_cast<uint8_t>(w);
  if (s < owner_slots_) owner_held_[w]++;
  wc_[w].rx_frames++;
  wc_[w].rx_bytes += len;
  publish();
  return true;
}

bool Owner::queue_tx(uint32_t s, uint32_t len) {
  if (s >= slot_count_ || holder_[s] != kOwner || len < kMinFrame || len > slot_size_) {
    c_.bad_give_back++;
    return false;
  }
  return tx_.push(s, len, kNoWorker);
}

bool Owner::add_worker(uint32_t w) {
  if (w >= places_count_ || places_[w] != Place::kVacant) return false;
  ring_reset(region_->down(w));
  ring_reset(region_->up(w));
  down_[w].attach(region_->down(w), region_->down_entries(w), region_->header()->down_entries);
  up_[w].attach(region_->up(w), region_->up_entries(w), region_->header()->up_entries);
  unpublished_[w] = 0;
  owner_held_[w] = 0;
  places_[w] = Place::kJoined;
  wc_[w].joins++;
  // Its partition: every slot at home goes to it now (the rest when the
  // owner is done with them).
  uint32_t first = region_->worker_first(w);
  uint32_t per = region_->header()->worker_slots;
  for (uint32_t s = first; s < first + per; s++) {
    if (holder_[s] == w && push_down(w, kDownReturn, s, 0, 0, 0)) wc_[w].returns++;
  }
  publish();
  return true;
}

bool Owner::set_live(uint32_t w) {
  if (w >= places_count_ || places_[w] != Place::kJoined) return false;
  places_[w] = Place::kLive;
  rebalance();
  return true;
}

bool Owner::remove_worker(uint32_t w, std::vector<FlowKey>* forgotten) {
  if (w >= places_count_ || places_[w] == Place::kVacant) return false;
  places_[w] = Place::kVacant;
  wc_[w].deaths++;
  rebalance();
  c_.flows_forgotten += flows_.erase_worker(static_cast<uint8_t>(w), forgotten);
  // Owner slots it held: free again. Its own partition: home (holder_ == w
  // already), except what the owner holds, which comes home in give_back.
  for (uint32_t s = 0; s < owner_slots_; s++) {
    if (holder_[s] == w) {
      free_owner_slot(s);
      c_.slots_reclaimed++;
    }
  }
  owner_held_[w] = 0;
  unpublished_[w] = 0;
  // Local (ARP) frames it sent that the agent has not taken stay queued;
  // the agent gives them back, and they come home.
  return true;
}

void Owner::rebalance() {
  RegionHeader* h = region_->shared();
  std::vector<uint32_t> live;
  for (uint32_t w = 0; w < places_count_; w++) {
    if (places_[w] == Place::kLive) live.push_back(w);
  }
  uint8_t next[kRetaSize];
  uint32_t lent = 0;
  for (uint32_t b = 0; b < kRetaSize; b++) {
    uint32_t home = b % home_workers_;
    if (places_[home] == Place::kLive) next[b] = static_cast<uint8_t>(home);
    else if (live.empty()) next[b] = kNoWorker;
    else next[b] = static_cast<uint8_t>(live[lent++ % live.size()]);
  }
  // Workers read the table between two equal, even sequence numbers.
  __atomic_store_n(&h->reta_seq, h->reta_seq + 1, __ATOMIC_SEQ_CST);
  for (uint32_t b = 0; b < kRetaSize; b++) __atomic_store_n(&h->reta[b], next[b], __ATOMIC_RELAXED);
  __atomic_store_n(&h->reta_seq, h->reta_seq + 1, __ATOMIC_SEQ_CST);
  c_.reta_changes++;
}

bool Owner::prepare_sleep() {
  for (uint32_t w = 0; w < places_count_; w++) {
    if (!present(w)) continue;
    if (!up_[w].prepare_sleep()) {
      for (uint32_t v = 0; v <= w; v++) {
        if (present(v)) up_[v].awake();
      }
      return false;
    }
  }
  if (tx_.count > 0 || local_.count > 0) {
    for (uint32_t w = 0; w < places_count_; w++) {
      if (present(w)) up_[w].awake();
    }
    return false;
  }
  return true;
}

bool Owner::pending() const {
  if (tx_.count > 0 || local_.count > 0) return true;
  for (uint32_t w = 0; w < places_count_; w++) {
    if (present(w) && up_[w].pending()) return true;
  }
  return false;
}

Census Owner::census() const {
  Census c;
  for (uint32_t s = 0; s < slot_count_; s++) {
    uint8_t h = holder_[s];
    if (h == kFree) c.owner_free++;
    else if (h == kOwner) c.owner_held++;
    else if (h < kMaxWorkers) c.at_worker[h]++;
  }
  return c;
}

uint32_t Owner::trace(TraceEntry* out, uint32_t max) const {
  uint64_t have = trace_n_ < kTraceSize ? trace_n_ : kTraceSize;
  uint32_t n = have < max ? static_cast<uint32_t>(have) : max;
  for (uint32_t k = 0; k < n; k++) out[k] = trace_[(trace_n_ - n + k) % kTraceSize];
  return n;
}

}  // namespace ustack::shm
