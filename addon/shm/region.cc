#include "shm/region.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dma/view_hold.h"

#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#endif
#ifndef MFD_ALLOW_SEALING
#define MFD_ALLOW_SEALING 0x0002U
#endif
#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif
#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#define F_SEAL_SEAL 0x0001
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#endif

namespace ustack::shm {

namespace {
constexpr uint32_t kMaxSlotSize = 1u << 20;
constexpr uint32_t kMinSlotSize = 64;
constexpr uint64_t kMaxRegion = 1ull << 36;  // 64 GiB: far above any pool, far below overflow

uint64_t round_up(uint64_t v, uint64_t to) { return (v + to - 1) / to * to; }

int memfd(const char* name, unsigned flags) {
  return static_cast<int>(::syscall(SYS_memfd_create, name, flags));
}
}  // namespace

bool Region::plan(const Layout& l, RegionHeader* h) {
  if (l.slot_size < kMinSlotSize || l.slot_size > kMaxSlotSize || l.slot_size % 64 != 0) return false;
  if (l.workers < 1 || l.workers > kMaxWorkers) return false;
  if (l.owner_slots < 1 || l.worker_slots < 1 || l.owner_slots > (1u << 22) || l.worker_slots > (1u << 22)) return false;
  if (l.pool_shift != 0 && l.pool_shift != kXdpHeadroom) return false;
  if (l.huge_page != 0) {
    bool pow2 = (l.huge_page & (l.huge_page - 1)) == 0 && (l.slot_size & (l.slot_size - 1)) == 0;
    if (!pow2 || l.huge_page < (2u << 20) || l.huge_page > (1u << 30) || l.slot_size > l.huge_page || l.pool_shift != 0) return false;
  }
  uint64_t slots = l.owner_slots + static_cast<uint64_t>(l.worker_slots) * l.workers;
  if (slots > (1u << 24)) return false;
  std::memset(h, 0, sizeof *h);
  h->magic = kRegionMagic;
  h->version = kRegionVersion;
  h->slot_size = l.slot_size;
  h->slot_count = static_cast<uint32_t>(slots);
  h->workers = l.workers;
  h->owner_slots = l.owner_slots;
  h->worker_slots = l.worker_slots;
  // Every entry of a down ring is a distinct slot handed to the worker, so a
  // ring of slot_count entries never fills; the up ring also carries flow
  // notices (no slot), so it gets twice that.
  h->down_entries = pow2_at_least(h->slot_count);
  h->up_entries = pow2_at_least(h->slot_count) * 2;
  h->worker_block_offset = kPage;
  h->worker_block_bytes =
      round_up(kEntriesStart + (static_cast<uint64_t>(h->down_entries) + h->up_entries) * sizeof(Entry), kPage);
  h->pool_shift = l.pool_shift;
  h->huge_page = l.huge_page;
  uint64_t blocks_end = h->worker_block_offset + h->worker_block_bytes * l.workers;
  // Huge pages: a slot-aligned pool never has a slot across a huge page boundary.
  h->pool_offset = (l.huge_page != 0 ? round_up(blocks_end, l.slot_size > kPage ? l.slot_size : kPage) : blocks_end) + l.pool_shift;
  h->total_bytes = h->pool_offset + slots * l.slot_size + (l.pool_shift != 0 ? kPage - l.pool_shift : 0);
  if (l.huge_page != 0) h->total_bytes = round_up(h->total_bytes, l.huge_page);
  if (h->total_bytes > kMaxRegion) return false;
  for (uint32_t i = 0; i < kRetaSize; i++) h->reta[i] = kNoWorker;
  return true;
}

bool Region::header_valid(const RegionHeader& h, uint64_t file_bytes) {
  if (h.magic != kRegionMagic || h.version != kRegionVersion) return false;
  Layout l;
  l.slot_size = h.slot_size;
  l.workers = h.workers;
  l.owner_slots = h.owner_slots;
  l.worker_slots = h.worker_slots;
  l.pool_shift = h.pool_shift;
  l.huge_page = h.huge_page;
  RegionHeader want;
  if (!plan(l, &want)) return false;
  // Everything derived must be what the sizes imply, and the file that long.
  return h.slot_count == want.slot_count && h.down_entries == want.down_entries && h.up_entries == want.up_entries &&
         h.worker_block_offset == want.worker_block_offset && h.worker_block_bytes == want.worker_block_bytes &&
         h.pool_offset == want.pool_offset && h.total_bytes == want.total_bytes && file_bytes == h.total_bytes;
}

int Region::create(const Layout& l, Error* err) {
  RegionHeader plan_h;
  if (!plan(l, &plan_h)) return fail(err, "memfd_create", EINVAL, "ERR_OUT_OF_RANGE", "shared region: layout out of range");
  int fd = memfd("ustack-shards", MFD_CLOEXEC | MFD_ALLOW_SEALING | (l.huge_page != 0 ? MFD_HUGETLB : 0));
  if (fd < 0) return fail(err, "memfd_create", errno);
  if (::ftruncate(fd, static_cast<off_t>(plan_h.total_bytes)) < 0) {
    int e = errno;
    ::close(fd);
    return fail(err, "ftruncate", e);
  }
  // Fixed size from now on: no worker can shrink the file under our mapping.
  if (::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
    int e = errno;
    ::close(fd);
    return fail(err, "fcntl(F_ADD_SEALS)", e);
  }
  // Huge pages are reserved here (a shared hugetlb mapping reserves at mmap):
  // too few fail now, not as SIGBUS later.
  void* m = ::mmap(nullptr, plan_h.total_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | (l.huge_page != 0 ? MAP_POPULATE : 0), fd, 0);
  if (m == MAP_FAILED) {
    int e = errno;
    ::close(fd);
    if (l.huge_page != 0) {
      return fail(err, "mmap(memfd, MFD_HUGETLB)", e, "ERR_USTACK_NO_HUGEPAGES",
                  "not enough free huge pages for the shared region's " + std::to_string(plan_h.total_bytes >> 20) +
                      " MiB (run: ustack hugepages N)");
    }
    return fail(err, "mmap", e);
  }
  base_ = static_cast<uint8_t*>(m);
  bytes_ = plan_h.total_bytes;
  fd_ = fd;
  own_fd_ = true;
  plan_h.owner_pid = static_cast<uint32_t>(::getpid());
  layout_ = plan_h;
  std::memcpy(base_, &plan_h, sizeof plan_h);
  for (uint32_t w = 0; w < plan_h.workers; w++) {
    ring_reset(down(w));
    ring_reset(up(w));
  }
  return 0;
}

int Region::attach(int fd, Error* err) {
  struct stat st;
  if (::fstat(fd, &st) < 0) return fail(err, "fstat", errno);
  if (!S_ISREG(st.st_mode) || st.st_size < static_cast<off_t>(kPage)) {
    return fail(err, "fstat", EINVAL, "ERR_USTACK_SHM_BAD_REGION", "fd " + std::to_string(fd) + " is not a shared region");
  }
  uint64_t file_bytes = static_cast<uint64_t>(st.st_size);
  RegionHeader h;
  if (::pread(fd, &h, sizeof h, 0) != static_cast<ssize_t>(sizeof h) || !header_valid(h, file_bytes)) {
    return fail(err, "pread", EINVAL, "ERR_USTACK_SHM_BAD_REGION", "fd " + std::to_string(fd) + ": the region header does not describe the file");
  }
  void* m = ::mmap(nullptr, file_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) return fail(err, "mmap", errno);
  base_ = static_cast<uint8_t*>(m);
  bytes_ = file_bytes;
  fd_ = fd;
  own_fd_ = false;
  // The sizes used from now on are the ones checked, not whatever the page says later.
  layout_ = h;
  return 0;
}

void Region::unmap() {
  if (base_ != nullptr) {
    dma::unmap_or_retire(base_, bytes_);
    base_ = nullptr;
    bytes_ = 0;
  }
  if (own_fd_ && fd_ >= 0) ::close(fd_);
  fd_ = -1;
  own_fd_ = false;
}

}  // namespace ustack::shm
