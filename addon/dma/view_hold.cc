// Keeps the addresses of DMA memory JavaScript can still view. See view_hold.h.
#include "dma/view_hold.h"

#include <sys/mman.h>

#include <algorithm>
#include <mutex>
#include <vector>

namespace ustack::dma {

namespace {

struct Span {
  uintptr_t begin, end;
  bool overlaps(const Span& o) const { return begin < o.end && o.begin < end; }
};

struct State {
  std::mutex mu;
  std::vector<Span> holds;    // one entry per live ViewHold (equal spans may repeat)
  std::vector<Span> retired;  // mappings whose memory was replaced, awaiting their last hold
};

State& state() {
  // Never destroyed: finalizers and exit paths may run after static destructors.
  static State* s = new State();
  return *s;
}

Span span_of(const void* p, size_t len) {
  uintptr_t b = reinterpret_cast<uintptr_t>(p);
  return {b, b + len};
}

bool held(const State& s, const Span& m) {
  return std::any_of(s.holds.begin(), s.holds.end(), [&m](const Span& h) { return h.overlaps(m); });
}

}  // namespace

ViewHold::ViewHold(const uint8_t* begin, size_t len) : begin_(begin), len_(len) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  s.holds.push_back(span_of(begin_, len_));
}

ViewHold::~ViewHold() {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  Span me = span_of(begin_, len_);
  auto it = std::find_if(s.holds.begin(), s.holds.end(), [&me](const Span& h) { return h.begin == me.begin && h.end == me.end; });
  if (it != s.holds.end()) s.holds.erase(it);
  for (size_t i = 0; i < s.retired.size();) {
    const Span m = s.retired[i];
    if (m.overlaps(me) && !held(s, m)) {
      ::munmap(reinterpret_cast<void*>(m.begin), m.end - m.begin);
      s.retired.erase(s.retired.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      i++;
    }
  }
}

bool unmap_or_retire(uint8_t* virt, size_t size) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  Span m = span_of(virt, size);
  if (!held(s, m)) {
    ::munmap(virt, size);
    return true;
  }
  // MAP_FIXED replaces the old mapping in one step: no other thread's mmap
  // can take the addresses in between. Should it fail, the memory itself
  // stays until the last hold ends: still safe, just not given back early.
  ::mmap(virt, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
  s.retired.push_back(m);
  return false;
}

size_t retired_mappings() {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  return s.retired.size();
}

}  // namespace ustack::dma
