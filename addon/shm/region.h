// The memory an owner and its workers share: one memfd, mapped MAP_SHARED
// by every process, laid out as
//
//   page 0        RegionHeader: sizes, the slot partition, the indirection
//                 table (RETA) workers read to choose local ports
//   worker blocks one per worker place: its down ring (owner -> worker) and
//                 up ring (worker -> owner), headers then entries
//   pool          slot_count slots of slot_size bytes: the packet memory the
//                 device reads frames into and sends frames from. With a
//                 pool shift (AF_XDP: the kernel puts a frame 256 bytes into
//                 its UMEM chunk) the pool starts that far into its first
//                 page, so slot i's frame is UMEM chunk i's, and one page
//                 more at the end keeps the last slot inside the file
//
// The slot pool is partitioned: slots [0, owner_slots) are the owner's, for
// receiving; worker w owns [owner_slots + w * worker_slots, +worker_slots),
// for transmitting. A received frame stays in the owner's slot while a worker
// reads it; a transmitted one stays in the worker's slot while the device
// sends it. Only slot indices cross the rings (owner.h).
//
// With Layout::huge_page the memfd is MFD_HUGETLB: the same memory the
// workers map is memory a device can DMA into by physical address (the
// owner's virtio-net device maps the fd and reads each huge page's address
// from /proc/self/pagemap, dma.h), so the device's pool is this pool.
//
// The owner creates the region (create) and seals its size, so no worker can
// shrink the file under the owner (a shrunk shared mapping faults on access).
// A worker attaches to the fd it inherited (attach) and checks the header
// against the file before using any offset in it.
#pragma once
#include <cstddef>
#include <cstdint>

#include "common/error.h"
#include "shm/ring.h"

namespace ustack::shm {

constexpr uint32_t kRegionMagic = 0x31485355;  // "USH1"
constexpr uint32_t kRegionVersion = 3;
constexpr uint32_t kRetaSize = 128;     // indirection table entries, as most RSS NICs have
constexpr uint32_t kMaxWorkers = 64;    // worker places (a wake mask is one uint64_t)
constexpr uint8_t kNoWorker = 0xff;     // an indirection entry naming no worker
constexpr size_t kPage = 4096;

struct RegionHeader {
  uint32_t magic;
  uint32_t version;
  uint64_t total_bytes;
  uint32_t slot_size;
  uint32_t slot_count;
  uint32_t workers;        // worker places
  uint32_t owner_slots;    // slots [0, owner_slots) receive
  uint32_t worker_slots;   // per worker place
  uint32_t down_entries;   // ring sizes (powers of two)
  uint32_t up_entries;
  uint32_t owner_pid;
  uint64_t worker_block_offset;
  uint64_t worker_block_bytes;
  uint64_t pool_offset;
  uint32_t pool_shift;     // pool_offset - the page it lies in (0, or 256 for an AF_XDP UMEM)
  uint32_t huge_page;      // 0, or the huge page size of an MFD_HUGETLB memfd (the file is whole huge pages)
  // The indirection table: hash & (kRetaSize - 1) -> worker place. The owner
  // writes it (between two increments of reta_seq, odd while writing); a
  // worker copies it and retries while the sequence moved.
  uint32_t reta_seq;
  uint8_t reta[kRetaSize];
};
static_assert(sizeof(RegionHeader) <= kPage, "the header fits its page");

// What the owner asks for.
struct Layout {
  uint32_t slot_size = 2048;
  uint32_t workers = 1;
  uint32_t owner_slots = 256;
  uint32_t worker_slots = 256;
  uint32_t pool_shift = 0;  // 0, or kXdpHeadroom
  // 0, or a huge page size (a power of two, 2 MiB .. 1 GiB): the memfd is
  // MFD_HUGETLB, the pool starts at a multiple of the slot size (a power of
  // two dividing the huge page) and the file is whole huge pages. No pool shift.
  uint32_t huge_page = 0;
};

// Where the kernel puts a received frame in an AF_XDP UMEM chunk (XDP_PACKET_HEADROOM).
constexpr uint32_t kXdpHeadroom = 256;

// Offsets inside one worker block.
constexpr size_t kDownHeader = 0;
constexpr size_t kUpHeader = sizeof(RingHeader);
constexpr size_t kEntriesStart = 2 * sizeof(RingHeader);

// The smallest power of two >= v (v <= 2^31).
inline uint32_t pow2_at_least(uint32_t v) {
  uint32_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

class Region {
 public:
  Region() = default;
  ~Region() { unmap(); }
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;

  // Creates the memfd (close-on-exec: only the workers it is handed to see
  // it), sizes and seals it, maps it and writes the header. 0 or -errno.
  int create(const Layout& l, Error* err);
  // Maps an inherited region fd and checks its header. 0 or -errno
  // (ERR_USTACK_SHM_BAD_REGION when the header does not describe the file).
  int attach(int fd, Error* err);
  // Unmaps (a view hold may keep zero pages at the addresses, dma/view_hold.h)
  // and closes the fd if this object opened it. Idempotent.
  void unmap();

  bool mapped() const { return base_ != nullptr; }
  int fd() const { return fd_; }
  // The sizes and offsets, as created or as checked at attach: a private
  // copy, so nothing the other side writes later moves an offset.
  const RegionHeader* header() const { return &layout_; }
  // The header in shared memory (the indirection table lives there).
  RegionHeader* shared() const { return reinterpret_cast<RegionHeader*>(base_); }
  uint8_t* base() const { return base_; }
  size_t bytes() const { return bytes_; }
  uint8_t* pool() const { return base_ + header()->pool_offset; }
  size_t pool_bytes() const { return static_cast<size_t>(header()->slot_count) * header()->slot_size; }
  // The page the pool's first slot lies in: an AF_XDP UMEM's start.
  uint64_t umem_offset() const { return header()->pool_offset - header()->pool_shift; }

  RingHeader* down(uint32_t w) const { return ring_header(w, kDownHeader); }
  RingHeader* up(uint32_t w) const { return ring_header(w, kUpHeader); }
  Entry* down_entries(uint32_t w) const { return reinterpret_cast<Entry*>(block(w) + kEntriesStart); }
  Entry* up_entries(uint32_t w) const {
    return reinterpret_cast<Entry*>(block(w) + kEntriesStart + static_cast<size_t>(header()->down_entries) * sizeof(Entry));
  }

  // The first slot of worker place w's partition.
  uint32_t worker_first(uint32_t w) const { return header()->owner_slots + w * header()->worker_slots; }
  // The worker place whose partition holds slot s, or kNoWorker for an owner slot.
  uint32_t home_of(uint32_t s) const {
    const RegionHeader* h = header();
    if (s < h->owner_slots) return kNoWorker;
    return (s - h->owner_slots) / h->worker_slots;
  }

  // Whether a header describes a file of `file_bytes` bytes consistently
  // (every offset and size inside it, rings powers of two). Pure: tested.
  static bool header_valid(const RegionHeader& h, uint64_t file_bytes);
  // The sizes create() computes for a layout (header filled, nothing mapped).
  // false when the layout is out of range.
  static bool plan(const Layout& l, RegionHeader* h);

 private:
  uint8_t* block(uint32_t w) const { return base_ + header()->worker_block_offset + w * header()->worker_block_bytes; }
  RingHeader* ring_header(uint32_t w, size_t off) const { return reinterpret_cast<RingHeader*>(block(w) + off); }

  RegionHeader layout_{};
  uint8_t* base_ = nullptr;
  size_t bytes_ = 0;
  int fd_ = -1;
  bool own_fd_ = false;
};

}  // namespace ustack::shm
