// KeepFreedHeap: see heap_policy.h.
#include "heap/heap_policy.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace ustack::heap {

namespace {

// A sanitizer replaces malloc: glibc's mallopt would still answer success
// while changing nothing the process uses.
constexpr bool kSanitizedAllocator =
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
    true;
#else
    false;
#endif
#else
    false;
#endif

}  // namespace

bool GlibcMalloc() {
#if defined(__GLIBC__)
  return !kSanitizedAllocator;
#else
  return false;
#endif
}

bool KeepFreedHeap() {
#if defined(__GLIBC__)
  if (!GlibcMalloc()) return false;
  // Setting any of these also ends glibc's dynamic mmap threshold, which
  // would otherwise move the threshold (and twice it, the trim threshold)
  // to the size of the last mapped block freed.
  return mallopt(M_MMAP_THRESHOLD, static_cast<int>(kMmapThreshold)) == 1 &&
         mallopt(M_TOP_PAD, static_cast<int>(kTopPad)) == 1 &&
         mallopt(M_TRIM_THRESHOLD, static_cast<int>(kTrimThreshold)) == 1;
#else
  return false;
#endif
}

}  // namespace ustack::heap
