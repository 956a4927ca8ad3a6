// DMA memory for a device. Plain POSIX, no N-API.
//
// Two sources:
//  - hugetlbfs: a file on a hugetlbfs mount, mmap'd MAP_SHARED, locked,
//    unlinked; the physical address of each huge page from /proc/self/pagemap.
//    Each huge page is physically contiguous, so a buffer that does not cross
//    a huge page boundary is contiguous too.
//  - VFIO type1: ordinary anonymous memory mapped through the IOMMU at an
//    IOVA of our choosing: the whole region is contiguous for the device.
// Both are MADV_DONTFORK: a forked child never shares or copies DMA memory.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"

namespace ustack::dma {

struct Region {
  uint8_t* virt = nullptr;
  size_t size = 0;
  size_t page_size = 0;             // granule of `phys` (huge page size, or size for IOVA)
  std::vector<uint64_t> phys;       // device address of each page
  bool hugetlb = false;
  uint64_t iova = 0;                // VFIO: base IOVA (0 when not mapped)

  uint64_t device_addr(size_t off) const { return phys[off / page_size] + off % page_size; }
};

// Finds a hugetlbfs mount ("" if none) and the default huge page size.
std::string hugetlbfs_mount();
size_t huge_page_size();

// hugetlbfs + pagemap. `size` is rounded up to whole huge pages.
int alloc_hugetlb(size_t size, Region* r, Error* err);

// Maps a huge-page memfd someone else made (MFD_HUGETLB: a shard region,
// shm/region.h) whole, MAP_SHARED, populated, locked and MADV_DONTFORK, with
// the physical address of each huge page. Not zeroed: other processes map
// it too. Refused (ERR_USTACK_NO_HUGEPAGES) when the fd is no hugetlbfs file.
int map_hugetlb_fd(int fd, Region* r, Error* err);

// Anonymous memory (page aligned, zeroed, locked), for VFIO mapping.
int alloc_anon(size_t size, Region* r, Error* err);

// Sets the device addresses after an IOMMU mapping at `iova`.
void set_iova(Region* r, uint64_t iova);

void free_region(Region* r);

// Physical address of a virtual address (0 if unknown), via /proc/self/pagemap.
uint64_t virt_to_phys(const void* p);

}  // namespace ustack::dma
