// Unit tests for addon/virtio/virtqueue.h (split ring index arithmetic) and
// addon/virtio/net_queue.h (the virtio-net receive and transmit queues),
// against a model of the device side written from the virtio 1.x spec: it
// takes chains from the available ring, writes (receive) or reads
// (transmit) their buffers through the descriptors' addresses, and returns
// them on the used ring, in order or not. Covered: the 16-bit indices
// wrapping (runs of several 2^16 and starts just below the wrap), a full
// ring, mergeable receive buffers spanning several chains (gathered into
// the first slot, or dropped when too long), reclaim of sent slots, no free
// slot, and a device reporting what it cannot (faults). Built and run by
// scripts/test-native.sh; prints "N passed, N failed".
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <vector>

#include "common/test_check.h"
#include "dma/dma.h"
#include "slots/slots.h"
#include "virtio/net_queue.h"
#include "virtio/virtqueue.h"
#include "vnet_hdr/vnet_hdr.h"

using namespace ustack::virtio;
namespace sl = ustack::slots;
namespace vn = ustack::vnet;

namespace {

uint32_t rng_state = 1;
uint32_t rnd(uint32_t n) {
  rng_state = rng_state * 1103515245u + 12345u;
  return (rng_state >> 8) % n;
}

// DMA memory stand-in: one heap block at a made-up device address.
struct Mem {
  static constexpr uint64_t kDevBase = 0x40000000;
  std::vector<uint8_t> bytes;
  ustack::dma::Region region;
  explicit Mem(size_t size) : bytes(size, 0) {
    region.virt = bytes.data();
    region.size = size;
    region.page_size = size;
    region.phys.assign(1, kDevBase);
  }
  uint8_t* at_dev(uint64_t a) { return bytes.data() + (a - kDevBase); }
};

// The device's side of one queue.
class ModelDevice {
 public:
  ModelDevice(Mem* m, uint8_t* ring_mem, uint16_t n) : m_(m), n_(n) {
    Layout l = layout(n);
    desc_ = reinterpret_cast<Desc*>(ring_mem + l.desc);
    avail_ = reinterpret_cast<uint16_t*>(ring_mem + l.avail);
    used_ = reinterpret_cast<uint16_t*>(ring_mem + l.used);
    used_ring_ = reinterpret_cast<UsedElem*>(ring_mem + l.used + 4);
  }
  void start_at(uint16_t idx) { last_avail_ = used_idx_ = idx; }
  struct Buf {
    uint8_t* p;
    uint32_t len;
    bool write;
  };
  // The next available chain, or false when the driver published none.
  bool pop(uint16_t* head, std::vector<Buf>* bufs) {
    if (last_avail_ == avail_[1]) return false;
    *head = avail_[2 + (last_avail_ & (n_ - 1))];
    last_avail_++;
    bufs->clear();
    uint16_t d = *head;
    for (int guard = 0; guard < n_; guard++) {
      Desc& x = desc_[d];
      bufs->push_back(Buf{m_->at_dev(x.addr), x.len, (x.flags & kDescWrite) != 0});
      if (!(x.flags & kDescNext)) break;
      d = x.next;
    }
    return true;
  }
  uint16_t available() const { return static_cast<uint16_t>(avail_[1] - last_avail_); }
  // Gives popped chains back to the available ring (QEMU's virtqueue_unpop).
  uint16_t mark() const { return last_avail_; }
  void unpop_to(uint16_t m) { last_avail_ = m; }
  void push_used(uint32_t id, uint32_t len) {
    used_ring_[used_idx_ & (n_ - 1)] = UsedElem{id, len};
    used_idx_++;
  }
  void publish_used() { used_[1] = used_idx_; }
  void set_no_notify(bool on) { used_[0] = on ? kUsedNoNotify : 0; }
  uint16_t avail_flags() const { return avail_[0]; }
  // Raw access for fault tests.
  void poke_used(uint16_t pos, uint32_t id, uint32_t len) { used_ring_[pos & (n_ - 1)] = UsedElem{id, len}; }
  void poke_used_idx(uint16_t idx) { used_[1] = idx; }
  uint16_t used_idx() const { return used_idx_; }

 private:
  Mem* m_;
  uint16_t n_;
  Desc* desc_;
  uint16_t* avail_;
  uint16_t* used_;
  UsedElem* used_ring_;
  uint16_t last_avail_ = 0, used_idx_ = 0;
};

// Writes `len` bytes of packet `p` (byte j = pattern(p, j)) with header h
// across the chains' writable buffers, as QEMU's virtio_net_receive does:
// the 12-byte header at the start of the first chain, the frame after it,
// then on through further chains from their first byte when merging.
uint8_t pattern(uint32_t p, uint32_t j) { return static_cast<uint8_t>(p * 131 + j * 7 + (j >> 8)); }

enum class Delivery { kUsed, kNoBuffers, kDropped };

Delivery deliver(ModelDevice* d, uint32_t p, uint32_t len, vn::Hdr h, bool mergeable, uint16_t* buffers = nullptr) {
  std::vector<uint8_t> pkt(vn::kHdrLen + len);
  for (uint32_t j = 0; j < len; j++) pkt[vn::kHdrLen + j] = pattern(p, j);
  struct Used {
    uint16_t head;
    uint32_t len;
  };
  std::vector<Used> used;
  std::vector<ModelDevice::Buf> bufs, first;
  size_t off = 0;
  uint16_t head, mark = d->mark();
  while (off < pkt.size()) {
    if (!d->pop(&head, &bufs)) {
      d->unpop_to(mark);  // QEMU checks for enough buffers before taking any
      return Delivery::kNoBuffers;
    }
    if (used.empty()) first = bufs;
    uint32_t put = 0;
    for (auto& b : bufs) {
      uint32_t n = static_cast<uint32_t>(std::min<size_t>(b.len, pkt.size() - off));
      std::memcpy(b.p, pkt.data() + off, n);
      off += n;
      put += n;
      if (off == pkt.size()) break;
    }
    used.push_back(Used{head, put});
    if (!mergeable && off < pkt.size()) {
      d->unpop_to(mark);  // unmerged and too long: the buffer goes back, the packet is dropped
      return Delivery::kDropped;
    }
  }
  h.num_buffers = static_cast<uint16_t>(used.size());
  uint8_t hb[vn::kHdrLen];
  vn::write(hb, h);
  std::memcpy(first[0].p, hb, vn::kHdrLen);
  for (auto& u : used) d->push_used(u.head, u.len);
  d->publish_used();
  if (buffers != nullptr) *buffers = static_cast<uint16_t>(used.size());
  return Delivery::kUsed;
}

// ---- virtqueue.h ----

void test_layout_and_distance() {
  Layout l = layout(256);
  CHECK(l.desc == 0 && l.avail == 4096 && l.used == 4616 && l.bytes == 4616 + 6 + 2048);
  l = layout(8);
  CHECK(l.avail == 128 && l.used == 152 && l.bytes == 152 + 6 + 64);
  CHECK(valid_queue_size(2) && valid_queue_size(256) && valid_queue_size(32768));
  CHECK(!valid_queue_size(0) && !valid_queue_size(1) && !valid_queue_size(12) && !valid_queue_size(65536));
  CHECK(distance(0xfff0, 0x0010) == 0x20);
  CHECK(distance(5, 5) == 0);
  CHECK(distance(0x0010, 0xfff0) == 0xffe0);
}

void test_ring_indices() {
  std::vector<uint8_t> mem(layout(8).bytes, 0);
  Ring r;
  r.attach(mem.data(), 8);
  Mem dummy(64);
  ModelDevice d(&dummy, mem.data(), 8);
  r.start_at_for_test(0xfffd);
  d.start_at(0xfffd);
  CHECK(r.outstanding() == 0 && r.used_ready() == 0);
  for (uint16_t h = 0; h < 6; h++) r.add(h);
  CHECK(r.unpublished() == 6 && r.outstanding() == 6);
  r.publish();
  CHECK(r.unpublished() == 0 && r.avail_idx() == 3);  // 0xfffd + 6 wraps to 3
  uint16_t head;
  std::vector<ModelDevice::Buf> b;
  int got = 0;
  while (d.pop(&head, &b)) {
    if (head != got) break;
    d.push_used(head, 0);
    got++;
  }
  CHECK(got == 6);
  d.publish_used();
  CHECK(r.used_ready() == 6);
  for (uint16_t i = 0; i < 6; i++) CHECK(r.peek(i).id == i);
  r.consume(6);
  CHECK(r.outstanding() == 0 && r.used_ready() == 0 && r.last_used() == 3);
  // A used index beyond what the device was given.
  r.add(1);
  r.publish();
  d.poke_used_idx(static_cast<uint16_t>(r.last_used() + 2));
  CHECK(r.used_ready() == Ring::kBadUsedIndex);
  // Notification flags.
  r.set_interrupts(false);
  CHECK(d.avail_flags() == kAvailNoInterrupt && !r.interrupts_on());
  r.set_interrupts(true);
  CHECK(d.avail_flags() == 0 && r.interrupts_on());
  d.set_no_notify(true);
  CHECK(!r.device_wants_notify());
  d.set_no_notify(false);
  CHECK(r.device_wants_notify());
  CHECK(r.used_after_enable());  // the bad index above differs from last_used
}

// ---- transmit ----

struct TxRig {
  static constexpr uint32_t kSlots = 64, kSlotSize = 2048;
  Mem mem{(1 << 16) + kSlots * kSlotSize};
  PoolView pool;
  sl::Table table;
  std::vector<uint32_t> stack;
  TxQueue tx;
  ModelDevice dev;
  explicit TxRig(uint16_t n) : dev(&mem, mem.bytes.data(), n) {
    pool.base = mem.bytes.data() + (1 << 16);
    pool.slot_size = kSlotSize;
    pool.slot_count = kSlots;
    pool.region = &mem.region;
    pool.offset = 1 << 16;
    tx.init(mem.bytes.data(), mem.bytes.data() + 0x8000, Mem::kDevBase + 0x8000, n);
    table.reset(kSlots);
    stack.assign(kSlots + 1, 0);
    for (uint32_t i = 0; i < kSlots; i++) stack[1 + i] = kSlots - 1 - i;
    stack[0] = kSlots;
    table.attach(stack.data(), kSlots);
  }
  uint32_t alloc() { return stack[0] == 0 ? sl::kNoSlot : stack[stack[0]--]; }
};

// Frames of many sizes through a small ring, the device taking random
// numbers of chains and returning them out of order: each frame reaches the
// device exactly once and intact, with its header; every slot comes back;
// the 16-bit indices wrap several times.
void test_tx_model(uint16_t start) {
  const uint16_t n = 8;  // 4 chains
  TxRig rig(n);
  rig.tx.q.ring.start_at_for_test(start);
  rig.dev.start_at(start);
  vn::TxCaps caps;
  caps.csum = true;
  uint32_t next_frame = 0, seen = 0, bad = 0, dup = 0;
  std::vector<uint8_t> seen_map(200000, 0);
  std::vector<std::pair<uint16_t, uint32_t>> held;  // device-held chains not yet used
  const uint32_t total = 140000;  // > 2 * 65536 chains
  uint32_t slots[8], lens[8];
  while (seen < total) {
    // Driver: a burst of up to 6 frames (more than the 4 chains sometimes).
    uint32_t want = rnd(7), k = 0;
    for (; k < want && next_frame + k < total; k++) {
      uint32_t s = rig.alloc();
      if (s == sl::kNoSlot) break;
      uint32_t len = 60 + (next_frame + k) % 1400;
      uint8_t* f = rig.pool.ptr(s);
      for (uint32_t j = 0; j < len; j++) f[j] = pattern(next_frame + k, j);
      uint32_t id = next_frame + k;
      std::memcpy(f + 16, &id, 4);
      slots[k] = s;
      lens[k] = len;
      if (rig.table.claim_tx(s) != sl::Refusal::kNone) bad++;
    }
    uint32_t sent = rig.tx.burst(rig.pool, slots, lens, k, caps);
    for (uint32_t i = sent; i < k; i++) {  // not taken: still ours
      rig.table.unclaim_tx(slots[i]);
      rig.stack[++rig.stack[0]] = slots[i];
    }
    next_frame += sent;
    // Device: takes some chains, returns some of what it holds in random order.
    uint16_t head;
    std::vector<ModelDevice::Buf> bufs;
    uint32_t take = rnd(5);
    for (uint32_t i = 0; i < take && rig.dev.pop(&head, &bufs); i++) {
      if (bufs.size() != 2 || bufs[0].len != vn::kHdrLen || bufs[0].write || bufs[1].write) {
        bad++;
        continue;
      }
      uint32_t id;
      std::memcpy(&id, bufs[1].p + 16, 4);
      bool intact = id < seen_map.size() && bufs[1].len == 60 + id % 1400;
      for (uint32_t j = 0; intact && j < bufs[1].len; j++) {
        if (j >= 16 && j < 20) continue;
        intact = bufs[1].p[j] == pattern(id, j);
      }
      if (!intact) bad++;
      else if (seen_map[id]++) dup++;
      seen++;
      held.emplace_back(head, 0);
    }
    uint32_t give = held.empty() ? 0 : rnd(static_cast<uint32_t>(held.size()) + 1);
    for (uint32_t i = 0; i < give; i++) {
      uint32_t at = rnd(static_cast<uint32_t>(held.size()));
      rig.dev.push_used(held[at].first, 0);
      held.erase(held.begin() + at);
    }
    rig.dev.publish_used();
    DeviceVerdict v;
    rig.tx.reclaim(&rig.table, &v);
    if (v != DeviceVerdict::kOk) bad++;
  }
  for (auto& h : held) rig.dev.push_used(h.first, 0);
  rig.dev.publish_used();
  DeviceVerdict v;
  rig.tx.reclaim(&rig.table, &v);
  CHECK(v == DeviceVerdict::kOk);
  CHECK(bad == 0 && dup == 0 && seen == total);
  CHECK(rig.stack[0] == TxRig::kSlots);  // every slot back on the free stack
  CHECK(rig.tx.q.free_count() == n / 2 && rig.tx.q.ring.outstanding() == 0);
  CHECK(rig.table.faults().push_refused == 0);
  CHECK(rig.tx.c.frames == total && rig.tx.c.csum == 0);  // no pseudo-header sums written: no NEEDS_CSUM
}

// A full ring: the burst takes what fits, counts it, and takes more once reclaimed.
void test_tx_ring_full() {
  TxRig rig(8);
  vn::TxCaps caps;
  uint32_t slots[10], lens[10];
  for (uint32_t i = 0; i < 10; i++) {
    slots[i] = rig.alloc();
    lens[i] = 60;
    rig.table.claim_tx(slots[i]);
  }
  CHECK(rig.tx.burst(rig.pool, slots, lens, 10, caps) == 4);
  CHECK(rig.tx.c.ring_full == 1 && rig.tx.q.free_count() == 0 && rig.tx.q.ring.outstanding() == 4);
  CHECK(rig.tx.burst(rig.pool, slots + 4, lens + 4, 6, caps) == 0 && rig.tx.c.ring_full == 2);
  // The device sends two: reclaim frees two chains, their slots go back.
  uint16_t head;
  std::vector<ModelDevice::Buf> b;
  rig.dev.pop(&head, &b);
  rig.dev.push_used(head, 0);
  rig.dev.pop(&head, &b);
  rig.dev.push_used(head, 0);
  rig.dev.publish_used();
  uint32_t before = rig.stack[0];
  DeviceVerdict v;
  CHECK(rig.tx.reclaim(&rig.table, &v) == 2 && v == DeviceVerdict::kOk);
  CHECK(rig.stack[0] == before + 2 && rig.tx.q.free_count() == 2);
  CHECK(rig.tx.burst(rig.pool, slots + 4, lens + 4, 6, caps) == 2);
  // Headers are built from the frame: a TCP frame with its pseudo-header sum gets NEEDS_CSUM.
  CHECK(rig.tx.c.csum == 0);
}

// A shared pool: slots from foreign_from on are a shard worker's own. Sent,
// they go to the completed list (back to the worker), never onto the free
// stack the device's receive queues take from; the others go back onto the free stack.
void test_tx_foreign_slots() {
  TxRig rig(8);
  vn::TxCaps caps;
  const uint32_t foreign_from = 32;
  uint32_t slots[4] = {40, 5, 63, 6}, lens[4] = {60, 60, 60, 60};
  // 5 and 6 are the owner's (taken off the free stack as the pump would), 40 and 63 a worker's.
  for (uint32_t i = 0; i < rig.stack[0];) {
    if (rig.stack[1 + i] == 5 || rig.stack[1 + i] == 6 || rig.stack[1 + i] >= foreign_from) {
      rig.stack[1 + i] = rig.stack[rig.stack[0]--];
    } else {
      i++;
    }
  }
  rig.table.sync();
  uint32_t free_before = rig.stack[0];
  for (uint32_t s : slots) CHECK(rig.table.claim_tx(s) == sl::Refusal::kNone);
  CHECK(rig.tx.burst(rig.pool, slots, lens, 4, caps) == 4);
  uint16_t head = 0;
  std::vector<ModelDevice::Buf> b;
  for (int i = 0; i < 4; i++) {
    CHECK(rig.dev.pop(&head, &b));
    rig.dev.push_used(head, 0);
  }
  rig.dev.publish_used();
  std::vector<uint32_t> completed;
  DeviceVerdict v;
  CHECK(rig.tx.reclaim(&rig.table, &v, foreign_from, &completed) == 4 && v == DeviceVerdict::kOk);
  std::sort(completed.begin(), completed.end());
  CHECK(completed == std::vector<uint32_t>({40, 63}));
  CHECK(rig.stack[0] == free_before + 2);
  CHECK(rig.table.state(40) == sl::State::kJs && rig.table.state(63) == sl::State::kJs);
  CHECK(rig.table.on_stack(5) && rig.table.on_stack(6) && !rig.table.on_stack(40) && !rig.table.on_stack(63));
  // Back with the worker, the slot can be sent again.
  CHECK(rig.table.claim_tx(40) == sl::Refusal::kNone);
}

// Reclaim refuses what a device cannot return: an odd id, one past the
// ring, a chain it does not hold, the same chain twice, an index beyond.
void test_tx_faults() {
  for (int kind = 0; kind < 5; kind++) {
    TxRig rig(8);
    vn::TxCaps caps;
    uint32_t slots[2] = {rig.alloc(), rig.alloc()}, lens[2] = {60, 60};
    rig.table.claim_tx(slots[0]);
    rig.table.claim_tx(slots[1]);
    rig.tx.burst(rig.pool, slots, lens, kind == 3 ? 2 : 1, caps);  // chain 0 out (head 0), and chain 1 (head 2) for kind 3
    switch (kind) {
      case 0: rig.dev.push_used(1, 0); break;   // odd: not a head
      case 1: rig.dev.push_used(8, 0); break;   // past the ring
      case 2: rig.dev.push_used(2, 0); break;   // chain 1: not given
      case 3: rig.dev.push_used(0, 0); rig.dev.push_used(0, 0); break;  // twice
      case 4: rig.dev.poke_used_idx(3); break;  // 3 returned of 1 given
    }
    if (kind != 4) rig.dev.publish_used();
    DeviceVerdict v;
    uint32_t got = rig.tx.reclaim(&rig.table, &v);
    CHECK(v == DeviceVerdict::kFault);
    CHECK(got == (kind == 3 ? 1u : 0u));
    CHECK(rig.table.faults().push_refused == 0);
  }
}

// ---- receive ----

struct RxRig {
  static constexpr uint32_t kSlotSize = 4096;
  uint32_t slot_count;
  Mem mem;
  PoolView pool;
  sl::Table table;
  std::vector<uint32_t> stack;
  RxQueue rx;
  ModelDevice dev;
  RxRig(uint16_t n, uint32_t buf_len, bool mergeable, uint32_t slots = 64)
      : slot_count(slots), mem((1 << 16) + slots * kSlotSize), dev(&mem, mem.bytes.data(), n) {
    pool.base = mem.bytes.data() + (1 << 16);
    pool.slot_size = kSlotSize;
    pool.slot_count = slot_count;
    pool.region = &mem.region;
    pool.offset = 1 << 16;
    rx.init(mem.bytes.data(), mem.bytes.data() + 0x8000, Mem::kDevBase + 0x8000, n, buf_len, mergeable);
    table.reset(slot_count);
    stack.assign(slot_count + 1, 0);
    for (uint32_t i = 0; i < slot_count; i++) stack[1 + i] = slot_count - 1 - i;
    stack[0] = slot_count;
    table.attach(stack.data(), slot_count);
  }
  void release(uint32_t s) { stack[++stack[0]] = s; }
};

// Packets of every size up to beyond a slot through mergeable buffers of
// 1 KiB (so up to 4 buffers per packet that fits a 4 KiB slot): each frame
// arrives once, in order, intact, gathered into its first slot; longer ones
// are dropped and counted; the device never runs dry for long; the indices
// wrap; at the end every slot is back.
void test_rx_model(uint16_t start, bool mergeable) {
  const uint16_t n = 32;  // 16 chains
  const uint32_t buf = mergeable ? 1024 : RxRig::kSlotSize;
  RxRig rig(n, buf, mergeable);
  rig.rx.q.ring.start_at_for_test(start);
  rig.dev.start_at(start);
  CHECK(rig.rx.fill(rig.pool, &rig.table));
  CHECK(rig.rx.q.ring.outstanding() == 16 && rig.stack[0] == rig.slot_count - 16);
  uint32_t sent = 0, bad = 0, delivered = 0, dropped_long = 0, dropped_by_device = 0, merged = 0;
  std::deque<std::pair<uint32_t, uint32_t>> in_flight;  // (packet, len) the driver must hand out, in order
  uint32_t slots[16], lens[16];
  uint8_t flags[16];
  const uint32_t packets = 70000;
  for (int round = 0; (sent < packets || !in_flight.empty()) && round < 10000000; round++) {
    uint32_t arrive = sent < packets ? rnd(6) : 0;
    for (uint32_t a = 0; a < arrive && sent < packets; a++) {
      uint32_t len = 14 + rnd(mergeable ? 4400 : 4100);
      uint16_t used_n = 0;
      Delivery r = deliver(&rig.dev, sent, len, vn::Hdr(), mergeable, &used_n);
      if (r == Delivery::kNoBuffers) break;  // the device waits for buffers
      if (r == Delivery::kDropped) dropped_by_device++;
      else if (len > RxRig::kSlotSize) dropped_long++;
      else in_flight.emplace_back(sent, len);
      if (r == Delivery::kUsed && used_n > 1 && len <= RxRig::kSlotSize) merged++;
      sent++;
    }
    DeviceVerdict v;
    uint32_t got = rig.rx.burst(rig.pool, &rig.table, slots, lens, rnd(3) ? flags : nullptr, 1 + rnd(16), &v);
    if (v != DeviceVerdict::kOk) bad++;
    for (uint32_t k = 0; k < got; k++) {
      if (in_flight.empty()) {
        bad++;
        break;
      }
      auto [p, len] = in_flight.front();
      in_flight.pop_front();
      const uint8_t* f = rig.pool.ptr(slots[k]);
      bool ok = lens[k] == len;
      for (uint32_t j = 0; ok && j < len; j++) ok = f[j] == pattern(p, j);
      if (!ok) bad++;
      delivered++;
      rig.release(slots[k]);
    }
  }
  CHECK(bad == 0);
  CHECK(in_flight.empty());
  CHECK(delivered + dropped_long + dropped_by_device == packets);
  CHECK(rig.rx.c.frames == delivered && rig.rx.c.too_long == dropped_long);
  CHECK(rig.rx.c.merged == merged);
  if (mergeable) CHECK(merged > 1000 && dropped_long > 100 && dropped_by_device == 0);
  else CHECK(merged == 0 && dropped_long == 0 && dropped_by_device > 0);
  // Every chain is back with the device, each holding a slot; the rest are free.
  CHECK(rig.rx.q.ring.outstanding() == 16);
  CHECK(rig.stack[0] == rig.slot_count - 16);
  uint32_t ring_slots = 0;
  for (uint32_t s = 0; s < rig.slot_count; s++) ring_slots += rig.table.state(s) == sl::State::kRx;
  CHECK(ring_slots == 16);
  CHECK(rig.table.faults().push_refused == 0 && rig.table.faults().in_ring == 0 && rig.table.faults().duplicate == 0);
  CHECK(rig.rx.q.ring.last_used() == rig.dev.used_idx());  // everything the device used was consumed
}

// No free slot: the frame stays on the used ring, counted; it comes once a slot is back.
void test_rx_no_slot() {
  RxRig rig(8, RxRig::kSlotSize, true, 4);  // 4 chains, 4 slots: all in the ring
  CHECK(rig.rx.fill(rig.pool, &rig.table) && rig.stack[0] == 0);
  vn::Hdr h;
  CHECK(Delivery::kUsed == deliver(&rig.dev, 7, 100, h, true));
  uint32_t slots[4], lens[4];
  DeviceVerdict v;
  CHECK(rig.rx.burst(rig.pool, &rig.table, slots, lens, nullptr, 4, &v) == 0 && v == DeviceVerdict::kOk);
  CHECK(rig.rx.c.no_slot == 1 && rig.rx.q.ring.used_ready() == 1);
  // A slot comes back from JavaScript (one the ring never had: the table takes it only once it is known).
  RxRig rig2(8, RxRig::kSlotSize, true, 5);
  CHECK(rig2.rx.fill(rig2.pool, &rig2.table) && rig2.stack[0] == 1);
  uint32_t js = rig2.stack[rig2.stack[0]--];  // JavaScript pops the last free slot
  CHECK(Delivery::kUsed == deliver(&rig2.dev, 7, 100, h, true));
  CHECK(rig2.rx.burst(rig2.pool, &rig2.table, slots, lens, nullptr, 4, &v) == 0 && rig2.rx.c.no_slot == 1);
  rig2.release(js);
  CHECK(rig2.rx.burst(rig2.pool, &rig2.table, slots, lens, nullptr, 4, &v) == 1 && lens[0] == 100);
  bool ok = true;
  for (uint32_t j = 0; j < 100; j++) ok = ok && rig2.pool.ptr(slots[0])[j] == pattern(7, j);
  CHECK(ok && rig2.rx.q.ring.outstanding() == 4);
}

// Part of a merged packet not there yet: nothing is taken until it all is.
void test_rx_partial_packet() {
  RxRig rig(16, 1024, true);
  CHECK(rig.rx.fill(rig.pool, &rig.table));
  vn::Hdr h;
  CHECK(Delivery::kUsed == deliver(&rig.dev, 3, 3000, h, true));  // 3 buffers
  uint16_t u = rig.dev.used_idx();
  rig.dev.poke_used_idx(static_cast<uint16_t>(u - 1));  // the device has published only two
  uint32_t slots[4], lens[4];
  DeviceVerdict v;
  CHECK(rig.rx.burst(rig.pool, &rig.table, slots, lens, nullptr, 4, &v) == 0 && v == DeviceVerdict::kOk);
  rig.dev.poke_used_idx(u);
  CHECK(rig.rx.burst(rig.pool, &rig.table, slots, lens, nullptr, 4, &v) == 1 && lens[0] == 3000 && rig.rx.c.merged == 1);
}

// Checksum state from the header: flagged, or completed in place.
void test_rx_checksums() {
  RxRig rig(8, RxRig::kSlotSize, true);
  CHECK(rig.rx.fill(rig.pool, &rig.table));
  vn::Hdr h;
  h.flags = vn::kFlagDataValid;
  CHECK(Delivery::kUsed == deliver(&rig.dev, 1, 200, h, true));
  h.flags = vn::kFlagNeedsCsum;
  h.csum_start = 14;
  h.csum_offset = 4000;  // outside: malformed, not flagged
  CHECK(Delivery::kUsed == deliver(&rig.dev, 2, 200, h, true));
  h.csum_offset = 6;
  CHECK(Delivery::kUsed == deliver(&rig.dev, 3, 200, h, true));
  uint32_t slots[4], lens[4];
  uint8_t flags[4] = {9, 9, 9, 9};
  DeviceVerdict v;
  CHECK(rig.rx.burst(rig.pool, &rig.table, slots, lens, flags, 4, &v) == 3);
  CHECK(flags[0] == vn::kRxFlagCsumVerified && flags[1] == 0 && flags[2] == vn::kRxFlagCsumVerified);
  CHECK(rig.rx.c.csum_valid == 1 && rig.rx.c.csum_partial == 2 && rig.rx.c.csum_completed == 0);
  for (uint32_t k = 0; k < 3; k++) rig.release(slots[k]);
  // Without flags the partial checksum is completed: bytes 20..21 change, the rest stays.
  CHECK(Delivery::kUsed == deliver(&rig.dev, 4, 200, h, true));
  CHECK(rig.rx.burst(rig.pool, &rig.table, slots, lens, nullptr, 4, &v) == 1 && rig.rx.c.csum_completed == 1);
}

// A device reporting what it cannot: each is a fault, nothing handed out.
void test_rx_faults() {
  for (int kind = 0; kind < 6; kind++) {
    RxRig rig(8, 1024, true);
    CHECK(rig.rx.fill(rig.pool, &rig.table));  // 4 chains out: heads 0, 2, 4, 6
    uint16_t head;
    std::vector<ModelDevice::Buf> b;
    for (int i = 0; i < 4; i++) rig.dev.pop(&head, &b);
    vn::Hdr h;
    h.num_buffers = 1;
    uint8_t hb[vn::kHdrLen];
    switch (kind) {
      case 0: rig.dev.push_used(3, 100); break;                // not a head
      case 1: rig.dev.push_used(0, vn::kHdrLen + 1025); break;  // longer than the buffer
      case 2: rig.dev.push_used(0, 100); rig.dev.push_used(0, 100); break;  // twice
      case 3:  // num_buffers beyond what the device holds
        h.num_buffers = 5;
        vn::write(hb, h);
        std::memcpy(rig.rx.q.hdr(0), hb, sizeof hb);
        rig.dev.push_used(0, 100);
        break;
      case 4:  // a merged packet naming its own first chain again
        h.num_buffers = 2;
        vn::write(hb, h);
        std::memcpy(rig.rx.q.hdr(0), hb, sizeof hb);
        rig.dev.push_used(0, vn::kHdrLen + 1024);
        rig.dev.push_used(0, 100);
        break;
      case 5: rig.dev.poke_used_idx(9); break;  // more than given
    }
    if (kind != 5) rig.dev.publish_used();
    uint32_t slots[4], lens[4];
    DeviceVerdict v;
    uint32_t got = rig.rx.burst(rig.pool, &rig.table, slots, lens, nullptr, 4, &v);
    CHECK(v == DeviceVerdict::kFault);
    CHECK(got == (kind == 2 ? 1u : 0u));
  }
}

}  // namespace

int main() {
  test_layout_and_distance();
  test_ring_indices();
  test_tx_model(0);
  test_tx_model(0xfff0);
  test_tx_ring_full();
  test_tx_faults();
  test_tx_foreign_slots();
  test_rx_model(0, true);
  test_rx_model(0xffe0, true);
  test_rx_model(0, false);
  test_rx_no_slot();
  test_rx_partial_packet();
  test_rx_checksums();
  test_rx_faults();
  std::printf("virtio queues: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
