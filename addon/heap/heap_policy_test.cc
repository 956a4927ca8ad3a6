// KeepFreedHeap: under glibc's default policy, freeing a burst of 64 KiB
// blocks shrinks the heap (brk) and the next burst grows it again; after
// KeepFreedHeap() the heap's end stays where the first burst put it, burst
// after burst. The heap's end is sbrk(0), read without changing it.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/test_check.h"
#include "heap/heap_policy.h"

namespace {

constexpr int kBlocks = 64;
constexpr size_t kBlock = 64u << 10;

char* HeapEnd() { return static_cast<char*>(sbrk(0)); }

// One burst: kBlocks blocks allocated and touched, then all freed. Counts
// how often the heap's end moved (grew while allocating, shrank on free).
int Burst() {
  void* blocks[kBlocks];
  int moves = 0;
  char* end = HeapEnd();
  for (int i = 0; i < kBlocks; i++) {
    blocks[i] = std::malloc(kBlock);
    std::memset(blocks[i], i, kBlock);
    if (HeapEnd() != end) moves++, end = HeapEnd();
  }
  for (int i = kBlocks - 1; i >= 0; i--) {
    std::free(blocks[i]);
    if (HeapEnd() != end) moves++, end = HeapEnd();
  }
  return moves;
}

}  // namespace

int main() {
  bool applied = false;
  if (ustack::heap::GlibcMalloc()) {
    // The default policy: a burst of 4 MiB freed at the heap's top goes back
    // to the kernel, and the next burst takes it again.
    Burst();
    int before = 0;
    for (int i = 0; i < 10; i++) before += Burst();
    std::printf("glibc's default policy: the heap's end moved %d times in 10 bursts\n", before);
    CHECK(before >= 20);

    applied = ustack::heap::KeepFreedHeap();
    CHECK(applied);
    CHECK(ustack::heap::KeepFreedHeap());  // idempotent
    Burst();
    char* settled = HeapEnd();
    int after = 0;
    for (int i = 0; i < 100; i++) after += Burst();
    std::printf("after KeepFreedHeap: the heap's end moved %d times in 100 bursts\n", after);
    CHECK(after == 0);
    CHECK(HeapEnd() == settled);

    // A block above the mmap threshold is still mapped on its own, so one
    // large buffer does not stay in the heap for good.
    void* big = std::malloc(ustack::heap::kMmapThreshold + (1u << 20));
    CHECK(big != nullptr);
    CHECK(HeapEnd() == settled);
    std::free(big);
  } else {
    applied = ustack::heap::KeepFreedHeap();
    CHECK(!applied);
    std::printf("skipped: the allocator is not glibc's malloc (a sanitizer's, or another C library); KeepFreedHeap leaves it as it is\n");
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
