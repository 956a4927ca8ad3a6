// Unit tests for addon/dma/view_hold.h through dma::free_region(): a region
// nobody views is unmapped at once; a viewed one keeps its addresses, reads
// zeros, and is unmapped when the last view lets go. Anonymous regions only
// (hugetlbfs needs reserved huge pages). Built and run by
// scripts/test-native.sh and test/unit/native-lifetime.test.ts; prints
// "N passed, N failed".
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "dma/dma.h"
#include "dma/view_hold.h"
#include "common/test_check.h"

namespace dma = ustack::dma;


// Whether [p, p + len) is mapped (msync fails with ENOMEM on unmapped pages).
static bool mapped(const void* p, size_t len) {
  long ps = ::sysconf(_SC_PAGESIZE);
  uintptr_t b = reinterpret_cast<uintptr_t>(p) / ps * ps;
  return ::msync(reinterpret_cast<void*>(b), len, MS_ASYNC) == 0 || errno != ENOMEM;
}

static bool all_zero(const uint8_t* p, size_t len) {
  for (size_t i = 0; i < len; i++) {
    if (p[i] != 0) return false;
  }
  return true;
}

static bool alloc(dma::Region* r, size_t size) {
  ustack::Error err;
  if (dma::alloc_anon(size, r, &err) < 0) {
    std::fprintf(stderr, "alloc_anon: %s failed\n", err.syscall);
    return false;
  }
  return true;
}

static void test_unviewed_unmaps_now() {
  dma::Region r;
  if (!alloc(&r, 1 << 20)) return failed++, void();
  uint8_t* p = r.virt;
  size_t n = r.size;
  dma::free_region(&r);
  CHECK(!mapped(p, n));
  CHECK(dma::retired_mappings() == 0);
}

static void test_viewed_reads_zeros_until_released() {
  dma::Region r;
  if (!alloc(&r, 1 << 20)) return failed++, void();
  uint8_t* region = r.virt;
  size_t size = r.size;
  // A pool inside the region, as the e1000 pool follows its rings.
  uint8_t* pool = region + 8192;
  size_t pool_len = size - 8192;
  std::memset(pool, 0x5a, pool_len);
  auto view = std::make_unique<dma::ViewHold>(pool, pool_len);
  auto second = std::make_unique<dma::ViewHold>(pool, pool_len);  // e.g. a transferred ArrayBuffer

  dma::free_region(&r);
  CHECK(r.virt == nullptr);
  CHECK(mapped(region, size));
  CHECK(dma::retired_mappings() == 1);
  CHECK(all_zero(pool, pool_len));  // the packet memory is gone, the addresses are not
  pool[0] = 1;                      // a stale view may still write: private zero pages
  CHECK(pool[0] == 1);

  view.reset();
  CHECK(mapped(region, size));  // another view still holds it
  CHECK(dma::retired_mappings() == 1);
  second.reset();
  CHECK(!mapped(region, size));
  CHECK(dma::retired_mappings() == 0);
}

static void test_view_ends_before_free() {
  dma::Region r;
  if (!alloc(&r, 1 << 16)) return failed++, void();
  uint8_t* p = r.virt;
  size_t n = r.size;
  { dma::ViewHold v(p, n); }  // collected while the device is open
  dma::free_region(&r);
  CHECK(!mapped(p, n));
  CHECK(dma::retired_mappings() == 0);
}

static void test_unrelated_view_does_not_retain() {
  dma::Region a, b;
  if (!alloc(&a, 1 << 16) || !alloc(&b, 1 << 16)) return failed++, void();
  dma::ViewHold on_b(b.virt, b.size);
  uint8_t* pa = a.virt;
  size_t na = a.size;
  dma::free_region(&a);
  CHECK(!mapped(pa, na));
  dma::free_region(&b);
}

int main() {
  test_unviewed_unmaps_now();
  test_viewed_reads_zeros_until_released();
  test_view_ends_before_free();
  test_unrelated_view_does_not_retain();
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
