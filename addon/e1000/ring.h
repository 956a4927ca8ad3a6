// Descriptor ring index arithmetic for the 8254x, kept pure (no device, no
// memory access) so it can be unit-tested on its own (addon/e1000/ring_test.cc,
// run by scripts/test-native.sh).
//
// Conventions (8254x manual 3.2.6 / 3.4):
//  - A ring has n descriptors, n a power of two is NOT required (n % 8 == 0 is).
//  - RX: the hardware owns [RDH, RDT) and writes frames there; software owns
//    [RDT, RDH). RDH == RDT means "the hardware has no buffers", so software
//    never writes RDT = RDH: after processing descriptors up to and including
//    `last`, it writes RDT = last (that descriptor, refilled, becomes the one
//    hole), which is always strictly behind the hardware's head.
//  - TX: software fills [TDT, ...) and then advances TDT; the hardware owns
//    [TDH, TDT). TDH == TDT means "nothing to send", so at most n - 1
//    descriptors may be outstanding. `clean` is the oldest descriptor not yet
//    reclaimed (its DD bit not yet seen).
#pragma once
#include <cstdint>

namespace ustack::e1000::ring {

inline uint32_t next(uint32_t i, uint32_t n) { return i + 1 == n ? 0 : i + 1; }
inline uint32_t prev(uint32_t i, uint32_t n) { return i == 0 ? n - 1 : i - 1; }
inline uint32_t add(uint32_t i, uint32_t k, uint32_t n) { return static_cast<uint32_t>((static_cast<uint64_t>(i) + k) % n); }

// Descriptors from `from` up to (not including) `to`, going forward.
inline uint32_t distance(uint32_t from, uint32_t to, uint32_t n) { return to >= from ? to - from : n - from + to; }

// ---- RX ----

// Initial tail: all but one descriptor handed to the hardware.
inline uint32_t rx_initial_tail(uint32_t n) { return n - 1; }

// The first descriptor software inspects for a received frame, given the tail.
inline uint32_t rx_next_to_check(uint32_t rdt, uint32_t n) { return next(rdt, n); }

// Tail to write after software processed (and refilled) descriptors up to and
// including `last`. The hardware owned `last` until it set DD, so its head is
// strictly past `last`: the result can never equal RDH.
inline uint32_t rx_tail_after(uint32_t last) { return last; }

// Buffers the hardware holds for a head/tail pair (0 when RDH == RDT).
inline uint32_t rx_hw_buffers(uint32_t rdh, uint32_t rdt, uint32_t n) { return distance(rdh, rdt, n); }

// ---- TX ----

// Descriptors in flight (filled, not yet reclaimed).
inline uint32_t tx_in_flight(uint32_t clean, uint32_t tail, uint32_t n) { return distance(clean, tail, n); }

// Descriptors software may still fill: one is always kept free so TDT never
// catches up with TDH (which would read as an empty ring).
inline uint32_t tx_free(uint32_t clean, uint32_t tail, uint32_t n) { return n - 1 - tx_in_flight(clean, tail, n); }

inline bool tx_full(uint32_t clean, uint32_t tail, uint32_t n) { return tx_free(clean, tail, n) == 0; }

// Reclaim step: given DD bits (dd(i) returns whether descriptor i is done),
// advance clean over completed descriptors, calling done(i) for each.
// Stops at the tail or at the first descriptor without DD. Returns the count.
template <typename Dd, typename Done>
uint32_t tx_reclaim(uint32_t* clean, uint32_t tail, uint32_t n, Dd dd, Done done) {
  uint32_t c = *clean, k = 0;
  while (c != tail && dd(c)) {
    done(c);
    c = next(c, n);
    k++;
  }
  *clean = c;
  return k;
}

// ---- What the device reports ----

// A head register names a descriptor of the ring; anything else (all ones
// when the device is gone) is a device fault.
inline bool head_in_ring(uint32_t head, uint32_t n) { return head < n; }

// An RX descriptor's length is a whole frame of one buffer: at least an
// Ethernet header, at most the buffer the descriptor pointed to.
inline bool rx_length_ok(uint32_t len, uint32_t buf_size) { return len >= 14 && len <= buf_size; }

// Ring sizes the hardware accepts: a multiple of 8 descriptors (RDLEN/TDLEN
// a multiple of 128 bytes), at most 65536 descriptors here.
inline bool valid_ring_size(uint32_t n) { return n >= 8 && n % 8 == 0 && n <= 65536; }

}  // namespace ustack::e1000::ring
