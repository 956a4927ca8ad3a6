// Receive and transmit queues of the virtio-net driver. See net_queue.h.
#include "virtio/net_queue.h"

#include <cstring>

namespace ustack::virtio {

namespace {

constexpr uint32_t kEthHeader = 14;

}  // namespace

void PairQueue::init(uint8_t* ring_mem, uint8_t* hdrs, uint64_t hdrs_addr, uint16_t n, bool device_writes) {
  ring.attach(ring_mem, n);
  hdrs_ = hdrs;
  uint16_t chains = static_cast<uint16_t>(n / 2);
  slot_.assign(chains, slots::kNoSlot);
  out_.assign(chains, 0);
  free_.clear();
  uint16_t w = device_writes ? kDescWrite : 0;
  volatile Desc* d = ring.desc();
  for (uint16_t c = 0; c < chains; c++) {
    d[2 * c].addr = hdrs_addr + static_cast<uint64_t>(c) * kHdrStride;
    d[2 * c].len = vnet::kHdrLen;
    d[2 * c].flags = static_cast<uint16_t>(kDescNext | w);
    d[2 * c].next = static_cast<uint16_t>(2 * c + 1);
    d[2 * c + 1].addr = 0;
    d[2 * c + 1].len = 0;
    d[2 * c + 1].flags = w;
    d[2 * c + 1].next = 0;
  }
  // Taken from the top: chain 0 first.
  for (uint16_t c = chains; c > 0; c--) free_.push_back(static_cast<uint16_t>(c - 1));
}

void PairQueue::post(uint16_t c, uint64_t addr, uint32_t len, uint32_t slot) {
  volatile Desc* d = &ring.desc()[2 * c + 1];
  d->addr = addr;
  d->len = len;
  slot_[c] = slot;
  out_[c] = 1;
  ring.add(static_cast<uint16_t>(2 * c));
}

// ---- receive ----

void RxQueue::init(uint8_t* ring_mem, uint8_t* hdrs, uint64_t hdrs_addr, uint16_t n, uint32_t buf_len, bool mergeable) {
  q.init(ring_mem, hdrs, hdrs_addr, n, true);
  buf_len_ = buf_len;
  mergeable_ = mergeable;
  repost_.clear();
  repost_.reserve(q.chains());
  c = RxCounters();
}

bool RxQueue::fill(const PoolView& pool, slots::Table* t) {
  std::vector<uint16_t> taken;
  for (int32_t ch = q.take_free(); ch >= 0; ch = q.take_free()) {
    uint32_t s = t->pop(slots::State::kRx);
    if (s == slots::kNoSlot) {
      q.put_free(static_cast<uint16_t>(ch));
      for (uint16_t k : taken) {
        q.returned(k);
        t->push(q.slot(k));
      }
      return false;
    }
    q.post(static_cast<uint16_t>(ch), pool.addr(s), buf_len_, s);
    taken.push_back(static_cast<uint16_t>(ch));
  }
  q.ring.publish();
  return true;
}

uint32_t RxQueue::burst(const PoolView& pool, slots::Table* t, uint32_t* slots_out, uint32_t* lens_out, uint8_t* flags,
                        uint32_t max, DeviceVerdict* verdict) {
  *verdict = DeviceVerdict::kOk;
  uint32_t ready = q.ring.used_ready();
  if (ready == Ring::kBadUsedIndex) {
    *verdict = DeviceVerdict::kFault;
    return 0;
  }
  repost_.clear();
  uint32_t k = 0;
  uint16_t i = 0;
  const uint32_t buf_total = vnet::kHdrLen + buf_len_;  // what one chain holds
  while (k < max && i < ready) {
    UsedElem e0 = q.ring.peek(i);
    int32_t first = q.chain_of(e0.id);
    if (first < 0 || e0.len > buf_total) {
      *verdict = DeviceVerdict::kFault;
      break;
    }
    uint16_t c0 = static_cast<uint16_t>(first);
    vnet::Hdr h = vnet::read(q.hdr(c0));
    uint32_t nb = mergeable_ && h.num_buffers > 1 ? h.num_buffers : 1;
    if (nb > static_cast<uint32_t>(q.ring.outstanding()) - i) {  // more buffers than the device holds
      *verdict = DeviceVerdict::kFault;
      break;
    }
    if (nb > ready - i) break;  // the rest of this packet is not there yet
    // Every buffer of the packet: a chain the device holds (each once), a
    // length within it. Taken back from the device as they are checked.
    q.returned(c0);
    uint32_t total = e0.len >= vnet::kHdrLen ? e0.len - vnet::kHdrLen : 0;
    uint32_t j = 1;
    for (; j < nb; j++) {
      UsedElem e = q.ring.peek(static_cast<uint16_t>(i + j));
      int32_t cj = q.chain_of(e.id);
      if (cj < 0 || e.len > buf_total) break;
      q.returned(static_cast<uint16_t>(cj));
      total += e.len;
    }
    if (j < nb) {
      *verdict = DeviceVerdict::kFault;
      break;
    }
    bool deliver = e0.len >= vnet::kHdrLen + kEthHeader && total <= pool.slot_size;  // gathered into the first slot
    uint32_t fresh = slots::kNoSlot;
    if (deliver) {
      fresh = t->pop(slots::State::kRx);
      if (fresh == slots::kNoSlot) {
        // Left on the used ring for the next burst: the device still holds nothing new.
        c.no_slot++;
        q.mark_out(c0);
        for (j = 1; j < nb; j++) q.mark_out(static_cast<uint16_t>(q.ring.peek(static_cast<uint16_t>(i + j)).id / 2));
        break;
      }
    } else if (e0.len < vnet::kHdrLen + kEthHeader) {
      c.bad_length++;
    } else {
      c.too_long++;
    }
    uint32_t s0 = q.slot(c0);
    uint8_t* f = pool.ptr(s0);
    uint32_t off = e0.len >= vnet::kHdrLen ? e0.len - vnet::kHdrLen : 0;  // the first buffer's frame bytes
    for (j = 1; j < nb; j++) {
      UsedElem e = q.ring.peek(static_cast<uint16_t>(i + j));
      uint16_t cj = static_cast<uint16_t>(e.id / 2);
      if (deliver) {
        // Gathered behind the first buffer's part: header area first, then slot.
        uint32_t in_hdr = e.len < vnet::kHdrLen ? e.len : vnet::kHdrLen;
        std::memcpy(f + off, q.hdr(cj), in_hdr);
        std::memcpy(f + off + in_hdr, pool.ptr(q.slot(cj)), e.len - in_hdr);
        off += e.len;
      }
      repost_.push_back(cj);
    }
    if (deliver) {
      t->rx_to_js(s0);
      slots_out[k] = s0;
      lens_out[k] = total;
      if (nb > 1) c.merged++;
      if (h.gso()) c.gso++;
      vnet::RxCsum what;
      uint8_t flag = vnet::rx_checksum(h, f, total, flags == nullptr, &what);
      if (flags != nullptr) flags[k] = flag;
      if (what == vnet::RxCsum::kPartial || what == vnet::RxCsum::kCompleted || what == vnet::RxCsum::kMalformed) c.csum_partial++;
      else if (what == vnet::RxCsum::kValid) c.csum_valid++;
      if (what == vnet::RxCsum::kCompleted) c.csum_completed++;
      c.frames++;
      c.bytes += total;
      k++;
      q.set_slot(c0, fresh);  // the chain goes back with the fresh slot
    }
    repost_.push_back(c0);
    i = static_cast<uint16_t>(i + nb);
  }
  q.ring.consume(i);
  for (uint16_t ch : repost_) {
    uint32_t s = q.slot(ch);
    q.post(ch, pool.addr(s), buf_len_, s);
  }
  if (q.ring.unpublished() != 0) q.ring.publish();
  return k;
}

// ---- transmit ----

void TxQueue::init(uint8_t* ring_mem, uint8_t* hdrs, uint64_t hdrs_addr, uint16_t n) {
  q.init(ring_mem, hdrs, hdrs_addr, n, false);
  c = TxCounters();
}

bool TxQueue::put(const PoolView& pool, uint32_t slot, uint32_t len, const vnet::TxCaps& caps) {
  int32_t ch = q.take_free();
  if (ch < 0) return false;
  const uint8_t* f = pool.ptr(slot);
  vnet::Hdr h = vnet::tx_header(f, len, caps);
  vnet::write(q.hdr(static_cast<uint16_t>(ch)), h);
  if (h.gso()) c.gso++;
  if (h.flags & vnet::kFlagNeedsCsum) c.csum++;
  q.post(static_cast<uint16_t>(ch), pool.addr(slot), len, slot);
  c.frames++;
  c.bytes += len;
  return true;
}

uint32_t TxQueue::burst(const PoolView& pool, const uint32_t* slots_in, const uint32_t* lens, uint32_t n,
                        const vnet::TxCaps& caps) {
  uint32_t k = 0;
  while (k < n && put(pool, slots_in[k], lens[k], caps)) k++;
  if (k < n) c.ring_full++;
  flush();
  return k;
}

uint32_t TxQueue::reclaim(slots::Table* t, DeviceVerdict* verdict, uint32_t foreign_from, std::vector<uint32_t>* completed) {
  *verdict = DeviceVerdict::kOk;
  uint32_t ready = q.ring.used_ready();
  if (ready == Ring::kBadUsedIndex) {
    *verdict = DeviceVerdict::kFault;
    return 0;
  }
  uint16_t i = 0;
  for (; i < ready; i++) {
    int32_t ch = q.chain_of(q.ring.peek(i).id);
    if (ch < 0) {
      *verdict = DeviceVerdict::kFault;
      break;
    }
    q.returned(static_cast<uint16_t>(ch));
    uint32_t s = q.slot(static_cast<uint16_t>(ch));
    if (completed != nullptr && foreign_from != 0 && s >= foreign_from && t->state(s) == slots::State::kTx) {
      t->unclaim_tx(s);  // kTx -> outside the driver, to its owner
      completed->push_back(s);
    } else {
      t->push(s);  // refused (counted) unless the slot is in the TX ring
    }
    q.put_free(static_cast<uint16_t>(ch));
  }
  q.ring.consume(i);
  return i;
}

}  // namespace ustack::virtio
