// The C library heap's policy for a process that polls a NIC on a core of
// its own: keep what it frees.
//
// Received data reaches JavaScript in Buffers whose memory comes from
// malloc (node's ArrayBuffer allocator): slabs of up to 128 KiB, node's
// 8 KiB Buffer pools. glibc gives freed memory at the top of its heap back
// to the kernel (brk) as soon as more than M_TRIM_THRESHOLD is free there,
// and grows the heap again by M_TOP_PAD a few allocations later; once a
// garbage collection frees a burst's Buffers the heap shrinks and regrows,
// a system call every few slabs on the data path of a stack whose point is
// that the data path makes none. A dedicated poller keeps the memory
// instead, as DPDK's mempools and Seastar's allocator do: the heap grows in
// large steps, what is freed stays for the next allocation, and blocks up to
// a few MiB come from the heap rather than from an mmap/munmap pair each.
// The cost is resident memory: up to kTrimThreshold of free heap stays
// mapped after a peak.
#pragma once

#include <cstddef>

namespace ustack::heap {

// Free memory at the heap's top kept before the heap shrinks.
inline constexpr size_t kTrimThreshold = 32u << 20;
// How much more than asked for each growth of the heap takes.
inline constexpr size_t kTopPad = 4u << 20;
// Blocks of at least this size are mapped on their own (and unmapped when freed).
inline constexpr size_t kMmapThreshold = 4u << 20;

// Whether the process's allocator is glibc's malloc, the one the policy is
// for (not where a sanitizer replaces it, nor another C library).
bool GlibcMalloc();

// Applies the policy above to the process's C library heap. True when it
// took effect (glibc's malloc); false where the allocator is another one
// (musl, a sanitizer's), which is left as it is. Process-wide and idempotent.
bool KeepFreedHeap();

}  // namespace ustack::heap
