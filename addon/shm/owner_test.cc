// The owner and two workers in one process over a real shared region
// (memfd), driven through owner.h and port.h as the bindings drive them:
// the region's layout and header checks; a worker joining gets its whole
// partition; frames written into owner slots reach the worker the RETA or
// the flow table names, by slot index (the worker reads the bytes the owner
// wrote at that slot, through a second mapping of the memfd); transmit and
// return of the worker's own slots; releases; the receive quota; flow
// pinning across a RETA change; a worker removed while holding slots (every
// slot accounted for afterwards, a replacement gets its partition back);
// entries naming slots a worker does not hold; ICMP and ARP routing; the
// sleep handshake both ways; steers_here against the RETA.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "common/test_check.h"
#include "shm/owner.h"
#include "shm/port.h"

using namespace ustack::shm;
using ustack::Error;

namespace {

constexpr uint32_t kOurs = 0x0a000002;  // 10.0.0.2
constexpr uint32_t kPeer = 0x0a000001;

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) {
  put16(p, static_cast<uint16_t>(v >> 16));
  put16(p + 2, static_cast<uint16_t>(v));
}

// Writes a TCP frame peer:sport -> ours:dport into slot s; returns its length.
uint32_t write_tcp(uint8_t* pool, uint32_t slot_size, uint32_t s, uint16_t sport, uint16_t dport, uint8_t flags) {
  uint8_t* f = pool + static_cast<size_t>(s) * slot_size;
  std::memset(f, 0, 64);
  put16(f + 12, 0x0800);
  uint8_t* ip = f + 14;
  ip[0] = 0x45;
  put16(ip + 2, 40);
  ip[8] = 64;
  ip[9] = 6;
  put32(ip + 12, kPeer);
  put32(ip + 16, kOurs);
  put16(ip + 20, sport);
  put16(ip + 22, dport);
  ip[20 + 12] = 0x50;
  ip[20 + 13] = flags;
  return 54;
}

// A UDP frame peer:sport -> ours:dport in slot s.
uint32_t write_udp(uint8_t* pool, uint32_t slot_size, uint32_t s, uint16_t sport, uint16_t dport) {
  uint32_t len = write_tcp(pool, slot_size, s, sport, dport, 0);
  pool[static_cast<size_t>(s) * slot_size + 14 + 9] = 17;
  return len;
}

uint32_t write_eth(uint8_t* pool, uint32_t slot_size, uint32_t s, uint16_t type, uint8_t ip_proto = 0) {
  uint8_t* f = pool + static_cast<size_t>(s) * slot_size;
  std::memset(f, 0, 64);
  put16(f + 12, type);
  if (type == 0x0800) {
    f[14] = 0x45;
    f[14 + 9] = ip_proto;
    put32(f + 14 + 12, kPeer);
    put32(f + 14 + 16, kOurs);
    f[34] = 8;  // ICMP echo request
  }
  return 60;
}

struct Worker {
  Region region;  // the worker's own mapping of the memfd
  Port port;
  std::vector<uint32_t> stack;
  bool attach(int fd, uint32_t w) {
    Error err;
    if (region.attach(fd, &err) < 0) return false;
    if (!port.attach(&region, w)) return false;
    stack.assign(region.header()->worker_slots + 1, 0);
    port.set_free_stack(stack.data(), region.header()->worker_slots);
    return true;
  }
  uint32_t alloc() { return stack[0] == 0 ? 0xffffffffu : stack[stack[0]--]; }
  void free_slot(uint32_t s) { stack[++stack[0]] = s; }
  uint32_t rx(std::vector<uint32_t>* slots, std::vector<uint32_t>* lens) {
    slots->assign(4096, 0);
    lens->assign(4096, 0);
    uint32_t n = port.rx_burst(slots->data(), lens->data(), nullptr, 4096);
    slots->resize(n);
    lens->resize(n);
    return n;
  }
};

struct Rig {
  Region region;
  Owner owner;
  Worker w[2];
  uint32_t slot_size = 0;
  bool init(uint32_t quota = 64) {
    Layout l;
    l.slot_size = 2048;
    l.workers = 2;
    l.owner_slots = 128;
    l.worker_slots = 64;
    Error err;
    if (region.create(l, &err) < 0) return false;
    slot_size = region.header()->slot_size;
    return owner.init(&region, 2, quota, 1024) && w[0].attach(region.fd(), 0) && w[1].attach(region.fd(), 1);
  }
  void join(uint32_t i) {
    owner.add_worker(i);
    std::vector<uint32_t> s, l;
    w[i].rx(&s, &l);  // the returns land on its free stack
    owner.set_live(i);
  }
  // Writes frames built by `make(slot)` into owner slots and steers them.
  template <typename F>
  uint32_t receive(uint32_t n, F make) {
    std::vector<uint32_t> slots(n), lens(n);
    uint32_t k = owner.take_rx(slots.data(), n);
    for (uint32_t i = 0; i < k; i++) lens[i] = make(slots[i]);
    owner.steer(slots.data(), lens.data(), nullptr, k, k);
    return k;
  }
};

void test_layout() {
  Layout l;
  l.slot_size = 2048;
  l.workers = 3;
  l.owner_slots = 100;
  l.worker_slots = 50;
  RegionHeader h;
  CHECK(Region::plan(l, &h));
  CHECK(h.slot_count == 250);
  CHECK(h.down_entries == 256 && h.up_entries == 512);
  CHECK(h.pool_offset % kPage == 0);
  CHECK(Region::header_valid(h, h.total_bytes));
  CHECK(!Region::header_valid(h, h.total_bytes + 1));
  RegionHeader bad = h;
  bad.pool_offset += 64;
  CHECK(!Region::header_valid(bad, bad.total_bytes));
  bad = h;
  bad.slot_count += 1;
  CHECK(!Region::header_valid(bad, bad.total_bytes));
  bad = h;
  bad.magic = 0;
  CHECK(!Region::header_valid(bad, bad.total_bytes));
  // An AF_XDP UMEM: the pool 256 bytes into a page, one page more at the end.
  Layout x = l;
  x.pool_shift = kXdpHeadroom;
  RegionHeader hx;
  CHECK(Region::plan(x, &hx));
  CHECK(hx.pool_offset % kPage == kXdpHeadroom);
  CHECK(hx.total_bytes == hx.pool_offset - kXdpHeadroom + static_cast<uint64_t>(hx.slot_count) * hx.slot_size + kPage);
  CHECK(Region::header_valid(hx, hx.total_bytes));
  x.pool_shift = 128;
  CHECK(!Region::plan(x, &hx));
  // Huge pages (a virtio-net device's DMA memory): a slot-aligned pool, whole huge pages, no slot across one.
  Layout g = l;
  g.slot_size = 65536;
  g.huge_page = 2u << 20;
  RegionHeader hg;
  CHECK(Region::plan(g, &hg));
  CHECK(hg.pool_offset % 65536 == 0);
  CHECK(hg.total_bytes % (2u << 20) == 0);
  CHECK(hg.total_bytes >= hg.pool_offset + static_cast<uint64_t>(hg.slot_count) * hg.slot_size);
  for (uint32_t s = 0; s < hg.slot_count; s++) {
    uint64_t a = hg.pool_offset + static_cast<uint64_t>(s) * hg.slot_size;
    CHECK(a / g.huge_page == (a + hg.slot_size - 1) / g.huge_page);
  }
  CHECK(Region::header_valid(hg, hg.total_bytes));
  RegionHeader badg = hg;
  badg.huge_page = 0;
  CHECK(!Region::header_valid(badg, badg.total_bytes));
  g.slot_size = 3072;  // not a power of two
  CHECK(!Region::plan(g, &hg));
  g.slot_size = 2048;
  g.huge_page = 3u << 20;  // not a power of two
  CHECK(!Region::plan(g, &hg));
  g.huge_page = 2u << 20;
  g.pool_shift = kXdpHeadroom;
  CHECK(!Region::plan(g, &hg));
  l.slot_size = 100;  // not a multiple of 64
  CHECK(!Region::plan(l, &h));
  l.slot_size = 2048;
  l.workers = kMaxWorkers + 1;
  CHECK(!Region::plan(l, &h));
}

void test_join_and_steer() {
  Rig r;
  CHECK(r.init());
  r.join(0);
  r.join(1);
  CHECK(r.w[0].port.free_count() == 64);
  CHECK(r.w[1].port.free_count() == 64);
  // 100 connections' SYNs from different source ports.
  uint8_t* pool = r.region.pool();
  uint32_t k = r.receive(100, [&](uint32_t s) { return write_tcp(pool, r.slot_size, s, static_cast<uint16_t>(40000 + s), 7, 0x02); });
  CHECK(k == 100);
  std::vector<uint32_t> s0, l0, s1, l1;
  uint32_t n0 = r.w[0].rx(&s0, &l0), n1 = r.w[1].rx(&s1, &l1);
  CHECK(n0 + n1 == 100);
  CHECK(n0 > 20 && n1 > 20);  // spread
  std::printf("  100 flows: %u to worker 0, %u to worker 1\n", n0, n1);
  // Each frame went where the RETA points for its hash, by slot index: the
  // worker reads, through its own mapping, the bytes written at that slot.
  int wrong = 0;
  Toeplitz12 t;
  for (int w = 0; w < 2; w++) {
    const std::vector<uint32_t>& s = w == 0 ? s0 : s1;
    for (uint32_t slot : s) {
      if (slot >= 128) wrong++;  // an owner slot, not a copy in the worker's partition
      const uint8_t* f = r.w[w].region.pool() + static_cast<size_t>(slot) * r.slot_size;
      uint16_t sport = static_cast<uint16_t>((f[34] << 8) | f[35]);
      if (sport != 40000 + slot) wrong++;
      if (r.owner.reta(t.ipv4_l4(kPeer, kOurs, sport, 7)) != w) wrong++;
    }
  }
  CHECK(wrong == 0);
  // The trace names the same slots.
  TraceEntry tr[256];
  uint32_t nt = r.owner.trace(tr, 256);
  CHECK(nt == 100);
  CHECK(r.owner.owner_held_by(0) == n0 && r.owner.owner_held_by(1) == n1);
  // The workers release them: every owner slot free again.
  CHECK(r.w[0].port.release(s0.data(), n0) == n0);
  CHECK(r.w[1].port.release(s1.data(), n1) == n1);
  r.w[0].port.publish();
  r.w[1].port.publish();
  r.owner.drain();
  Census c = r.owner.census();
  CHECK(c.owner_free == 128 && c.owner_held == 0 && c.at_worker[0] == 64 && c.at_worker[1] == 64);
  CHECK(r.owner.counters().steered == 100);
}

void test_transmit_and_return() {
  Rig r;
  CHECK(r.init());
  r.join(0);
  Worker& w = r.w[0];
  uint32_t s = w.alloc();
  CHECK(s >= 128 && s < 192);
  uint8_t* f = w.region.pool() + static_cast<size_t>(s) * r.slot_size;
  std::memset(f, 0xab, 100);
  put16(f + 12, 0x0800);
  uint32_t len = 100;
  CHECK(w.port.tx_burst(&s, &len, 1) == 1);
  w.port.publish();
  r.owner.drain();
  uint32_t ts[8], tl[8];
  CHECK(r.owner.tx_peek(ts, tl, 8) == 1);
  CHECK(ts[0] == s && tl[0] == 100);
  // The owner sees the worker's bytes in place.
  CHECK(r.region.pool()[static_cast<size_t>(s) * r.slot_size + 50] == 0xab);
  CHECK(w.port.free_count() == 63);
  r.owner.tx_done(1);
  std::vector<uint32_t> rs, rl;
  CHECK(w.rx(&rs, &rl) == 0);  // a return, not a frame
  CHECK(w.port.free_count() == 64);
  // A frame in an owner slot the worker received can be sent back out (in-place reply).
  uint8_t* pool = r.region.pool();
  r.receive(1, [&](uint32_t slot) { return write_tcp(pool, r.slot_size, slot, 1000, 7, 0x10); });
  CHECK(w.rx(&rs, &rl) == 1);
  CHECK(w.port.tx_burst(rs.data(), rl.data(), 1) == 1);
  w.port.publish();
  r.owner.drain();
  CHECK(r.owner.tx_peek(ts, tl, 8) == 1 && ts[0] == rs[0]);
  r.owner.tx_done(1);
  CHECK(r.owner.census().owner_free == 128);
  CHECK(r.owner.counters().tx_frames == 2);
}

// A device that completes transmits later (AF_XDP): tx_sent takes frames
// off the queue but leaves them the owner's until give_back.
void test_tx_sent() {
  Rig r;
  CHECK(r.init());
  r.join(0);
  Worker& w = r.w[0];
  uint32_t s = w.alloc();
  uint32_t len = write_eth(w.region.pool(), r.slot_size, s, 0x0800, 6);
  w.port.tx_burst(&s, &len, 1);
  w.port.publish();
  r.owner.drain();
  uint32_t ts[4], tl[4];
  CHECK(r.owner.tx_peek(ts, tl, 4) == 1);
  r.owner.tx_sent(1);
  CHECK(r.owner.tx_backlog() == 0);
  CHECK(r.owner.census().owner_held == 1);  // with the device
  std::vector<uint32_t> rs, rl;
  w.rx(&rs, &rl);
  CHECK(w.port.free_count() == 63);
  CHECK(r.owner.give_back(s));  // completed
  w.rx(&rs, &rl);
  CHECK(w.port.free_count() == 64);
  CHECK(r.owner.counters().tx_frames == 1);
}

void test_quota() {
  Rig r;
  CHECK(r.init(10));
  r.join(0);
  uint8_t* pool = r.region.pool();
  r.receive(30, [&](uint32_t s) { return write_tcp(pool, r.slot_size, s, static_cast<uint16_t>(s), 7, 0x10); });
  CHECK(r.owner.worker_counters(0).rx_quota_drops == 20);
  CHECK(r.owner.owner_held_by(0) == 10);
  CHECK(r.owner.census().owner_free == 118);
}

// A flow worker 1 announced stays with it even in worker 0's buckets, and
// when the RETA changes; a removed worker's flows are forgotten.
void test_flow_pinning() {
  Rig r;
  CHECK(r.init());
  r.join(0);
  r.join(1);
  Toeplitz12 t;
  // A source port whose bucket is worker 0's.
  uint16_t sport = 30000;
  while (r.owner.reta(t.ipv4_l4(kPeer, kOurs, sport, 80)) != 0) sport++;
  CHECK(r.w[1].port.flow(true, 6, kOurs, 80, kPeer, sport));
  r.w[1].port.publish();
  r.owner.drain();
  CHECK(r.owner.flows() == 1 && r.owner.flows_of(1) == 1);
  uint8_t* pool = r.region.pool();
  r.receive(1, [&](uint32_t s) { return write_tcp(pool, r.slot_size, s, sport, 80, 0x10); });
  std::vector<uint32_t> s, l;
  CHECK(r.w[1].rx(&s, &l) == 1);
  CHECK(r.owner.counters().steered_by_flow == 1);
  r.w[1].port.release(s.data(), 1);
  r.w[1].port.publish();
  // Worker 0 dies and comes back: worker 1's flow stays with worker 1.
  r.owner.remove_worker(0);
  for (uint32_t b = 0; b < kRetaSize; b++) CHECK(r.owner.reta(b) == 1);
  r.join(0);
  CHECK(r.owner.reta(0) == 0 && r.owner.reta(1) == 1);
  r.receive(1, [&](uint32_t slot) { return write_tcp(pool, r.slot_size, slot, sport, 80, 0x10); });
  CHECK(r.w[1].rx(&s, &l) == 1);
  CHECK(r.w[0].rx(&s, &l) == 0);
  // Closed: unpinned; the RETA decides again.
  CHECK(r.w[1].port.flow(false, 6, kOurs, 80, kPeer, sport));
  r.w[1].port.publish();
  r.owner.drain();
  CHECK(r.owner.flows() == 0);
  // Worker 1 dies with a flow pinned: forgotten.
  r.w[1].port.flow(true, 6, kOurs, 80, kPeer, sport);
  r.w[1].port.publish();
  r.owner.drain();
  r.owner.remove_worker(1);
  CHECK(r.owner.flows() == 0);
  CHECK(r.owner.counters().flows_forgotten == 1);
}

// Worker 1 is removed while it holds owner slots (frames it never released),
// while its own slots wait in the owner's transmit backlog, and with entries
// it published but the owner never drained. Every slot is accounted for;
// a replacement in the same place gets its whole partition.
void test_death_reclaims() {
  Rig r;
  CHECK(r.init());
  r.join(0);
  r.join(1);
  uint8_t* pool = r.region.pool();
  r.receive(60, [&](uint32_t s) { return write_tcp(pool, r.slot_size, s, static_cast<uint16_t>(50000 + s), 7, 0x10); });
  std::vector<uint32_t> s1, l1, s0, l0;
  r.w[1].rx(&s1, &l1);
  r.w[0].rx(&s0, &l0);
  CHECK(!s1.empty());
  // Three of its own slots sent and waiting in the backlog.
  std::vector<uint32_t> mine;
  for (int i = 0; i < 3; i++) {
    uint32_t s = r.w[1].alloc();
    write_eth(r.w[1].region.pool(), r.slot_size, s, 0x0800, 6);
    mine.push_back(s);
  }
  std::vector<uint32_t> lens(3, 60);
  r.w[1].port.tx_burst(mine.data(), lens.data(), 3);
  r.w[1].port.publish();
  r.owner.drain();
  CHECK(r.owner.tx_backlog() == 3);
  // Two more published but never drained, and its free stack half used.
  uint32_t extra[2] = {r.w[1].alloc(), r.w[1].alloc()};
  uint32_t el[2] = {60, 60};
  r.w[1].port.tx_burst(extra, el, 2);
  r.w[1].port.publish();
  uint32_t held1 = r.owner.owner_held_by(1);
  CHECK(held1 == s1.size());
  r.owner.remove_worker(1);  // SIGKILL
  Census c = r.owner.census();
  CHECK(c.owner_free == 128 - s0.size());
  CHECK(r.owner.counters().slots_reclaimed == held1);
  CHECK(c.owner_held == 3);  // the backlog
  CHECK(c.at_worker[1] == 61);
  uint32_t ts[8], tl[8];
  CHECK(r.owner.tx_peek(ts, tl, 8) == 3);
  r.owner.tx_done(3);
  c = r.owner.census();
  CHECK(c.owner_held == 0 && c.at_worker[1] == 64);
  // Nothing goes to the dead place meanwhile.
  r.receive(20, [&](uint32_t s) { return write_tcp(pool, r.slot_size, s, static_cast<uint16_t>(20000 + s), 7, 0x10); });
  CHECK(r.owner.worker_counters(1).rx_frames == s1.size());
  // The replacement: a fresh mapping and stack in place 1, attached after
  // the owner reset the place's rings (as a forked worker is).
  r.owner.add_worker(1);
  Worker fresh;
  CHECK(fresh.attach(r.region.fd(), 1));
  std::vector<uint32_t> fs, fl;
  CHECK(fresh.rx(&fs, &fl) == 0);
  CHECK(fresh.port.free_count() == 64);
  r.owner.set_live(1);
  CHECK(r.owner.worker_counters(1).joins == 2 && r.owner.worker_counters(1).deaths == 1);
  // Worker 0 gives everything back: the whole pool is home.
  std::vector<uint32_t> s0b, l0b;
  r.w[0].rx(&s0b, &l0b);
  s0.insert(s0.end(), s0b.begin(), s0b.end());
  r.w[0].port.release(s0.data(), static_cast<uint32_t>(s0.size()));
  r.w[0].port.publish();
  r.owner.drain();
  c = r.owner.census();
  CHECK(c.owner_free == 128 && c.owner_held == 0 && c.at_worker[0] == 64 && c.at_worker[1] == 64);
}

void test_faults() {
  Rig r;
  CHECK(r.init());
  r.join(0);
  r.join(1);
  Worker& w = r.w[0];
  uint32_t theirs = r.w[1].alloc();
  uint32_t len = 60;
  w.port.tx_burst(&theirs, &len, 1);          // worker 1's slot
  uint32_t owner_free_slot = 5;
  w.port.release(&owner_free_slot, 1);        // an owner slot it was never given
  uint32_t huge = 100000;
  w.port.tx_burst(&huge, &len, 1);            // out of range
  uint32_t mine = w.alloc();
  uint32_t big = 4096;
  w.port.tx_burst(&mine, &big, 1);            // longer than a slot
  w.port.release(&mine, 1);                   // its own slot is not released this way
  w.port.publish();
  r.owner.drain();
  CHECK(r.owner.worker_counters(0).faults == 5);
  CHECK(r.owner.tx_backlog() == 0);
  Census c = r.owner.census();
  CHECK(c.owner_free == 128 && c.at_worker[0] == 64 && c.at_worker[1] == 64);
  CHECK(!r.owner.give_back(5));  // the owner does not hold it either
}

void test_icmp_and_arp() {
  Rig r;
  CHECK(r.init());
  uint8_t* pool = r.region.pool();
  // No worker: IPv4 dropped, ARP still to the agent.
  r.receive(1, [&](uint32_t s) { return write_eth(pool, r.slot_size, s, 0x0800, 1); });
  CHECK(r.owner.counters().drop_no_worker == 1);
  r.join(1);
  r.join(0);
  r.receive(4, [&](uint32_t s) { return write_eth(pool, r.slot_size, s, 0x0800, 1); });
  std::vector<uint32_t> s, l;
  CHECK(r.w[0].rx(&s, &l) == 4);  // the lowest live place answers ICMP
  r.owner.remove_worker(0);
  r.receive(2, [&](uint32_t slot) { return write_eth(pool, r.slot_size, slot, 0x0800, 1); });
  CHECK(r.w[1].rx(&s, &l) == 2);
  r.receive(1, [&](uint32_t slot) { return write_eth(pool, r.slot_size, slot, 0x0806); });
  r.receive(1, [&](uint32_t slot) { return write_eth(pool, r.slot_size, slot, 0x86dd); });
  CHECK(r.owner.counters().drop_not_ipv4 == 1);
  uint32_t ls[4], ll[4];
  uint8_t from[4];
  CHECK(r.owner.take_local(ls, ll, from, 4) == 1 && from[0] == kNoWorker);
  // The agent hands it to worker 1 as a received frame (an ARP reply, say).
  CHECK(r.owner.deliver(1, ls[0], ll[0]));
  CHECK(r.w[1].rx(&s, &l) == 1 && s[0] == ls[0]);
  // A worker's ARP request goes to the agent, not the wire.
  uint32_t a = r.w[1].alloc();
  uint32_t alen = write_eth(r.w[1].region.pool(), r.slot_size, a, 0x0806);
  r.w[1].port.tx_burst(&a, &alen, 1);
  r.w[1].port.publish();
  r.owner.drain();
  CHECK(r.owner.tx_backlog() == 0);
  CHECK(r.owner.take_local(ls, ll, from, 4) == 1 && from[0] == 1 && ls[0] == a);
  CHECK(r.owner.queue_tx(a, alen));  // the agent sends it after all
  CHECK(r.owner.tx_backlog() == 1);
  // Delivering to a place nobody holds gives the slot back.
  r.receive(1, [&](uint32_t slot) { return write_eth(pool, r.slot_size, slot, 0x0806); });
  CHECK(r.owner.take_local(ls, ll, from, 4) == 1);
  CHECK(!r.owner.deliver(0, ls[0], ll[0]));
  CHECK(r.owner.census().owner_held == 1);  // only the queued ARP
}

void test_sleep_wake() {
  Rig r;
  CHECK(r.init());
  r.join(0);
  Worker& w = r.w[0];
  // The worker sleeps; a steered frame owes it a wake-up, once.
  CHECK(w.port.prepare_sleep());
  r.owner.take_wakes();
  uint8_t* pool = r.region.pool();
  r.receive(1, [&](uint32_t s) { return write_tcp(pool, r.slot_size, s, 1, 7, 0x10); });
  CHECK(r.owner.take_wakes() == 1);
  r.receive(1, [&](uint32_t s) { return write_tcp(pool, r.slot_size, s, 1, 7, 0x10); });
  CHECK(r.owner.take_wakes() == 0);  // it was woken already and has not slept since
  CHECK(!w.port.prepare_sleep());     // frames wait: it must not sleep
  // The owner sleeps; the worker's release owes it a wake-up.
  std::vector<uint32_t> s, l;
  w.rx(&s, &l);
  CHECK(r.owner.prepare_sleep());
  w.port.release(s.data(), static_cast<uint32_t>(s.size()));
  CHECK(w.port.publish());
  CHECK(!w.port.publish());  // nothing new
  CHECK(r.owner.pending());
  CHECK(!r.owner.prepare_sleep());
}

// UDP to a port of the ephemeral range goes to the worker whose port it is
// ((port - low) % workers), whatever the hash; other UDP by the RETA; a dead
// worker's ports by the RETA too.
void test_udp_ephemeral_ports() {
  Rig r;
  CHECK(r.init());
  r.owner.set_udp_ephemeral(49152, 65535);
  r.join(0);
  r.join(1);
  uint8_t* pool = r.region.pool();
  int wrong = 0;
  for (uint16_t p = 49152; p < 49152 + 40; p++) {
    r.receive(1, [&](uint32_t s) { return write_udp(pool, r.slot_size, s, static_cast<uint16_t>(1000 + p), p); });
    std::vector<uint32_t> s0, l0, s1, l1;
    uint32_t n0 = r.w[0].rx(&s0, &l0), n1 = r.w[1].rx(&s1, &l1);
    uint32_t want = (p - 49152) % 2;
    if ((want == 0 ? n0 : n1) != 1 || n0 + n1 != 1) wrong++;
    r.w[0].port.release(s0.data(), n0);
    r.w[1].port.release(s1.data(), n1);
    r.w[0].port.publish();
    r.w[1].port.publish();
    r.owner.drain();
  }
  CHECK(wrong == 0);
  // Worker 1 gone: its ports follow the RETA (all worker 0's now).
  r.owner.remove_worker(1);
  r.receive(1, [&](uint32_t s) { return write_udp(pool, r.slot_size, s, 7, 49153); });
  std::vector<uint32_t> s0, l0;
  CHECK(r.w[0].rx(&s0, &l0) == 1);
}

void test_steers_here() {
  Rig r;
  CHECK(r.init());
  r.join(0);
  r.join(1);
  Toeplitz12 t;
  int wrong = 0, here0 = 0;
  for (uint16_t p = 49152; p < 50152; p++) {
    bool h0 = r.w[0].port.steers_here(kOurs, p, kPeer, 80);
    bool h1 = r.w[1].port.steers_here(kOurs, p, kPeer, 80);
    uint8_t want = r.owner.reta(t.ipv4_l4(kPeer, kOurs, 80, p));
    if (h0 == h1 || h0 != (want == 0)) wrong++;
    here0 += h0;
  }
  CHECK(wrong == 0);
  CHECK(here0 > 300 && here0 < 700);
  // With worker 1 gone, every port steers to worker 0.
  r.owner.remove_worker(1);
  CHECK(r.w[0].port.steers_here(kOurs, 49153, kPeer, 80) && r.w[0].port.steers_here(kOurs, 49154, kPeer, 80));
}

}  // namespace

int main() {
  test_layout();
  test_join_and_steer();
  test_transmit_and_return();
  test_quota();
  test_tx_sent();
  test_flow_pinning();
  test_death_reclaims();
  test_faults();
  test_icmp_and_arp();
  test_sleep_wake();
  test_steers_here();
  test_udp_ephemeral_ports();
  std::printf("shm owner and ports: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
