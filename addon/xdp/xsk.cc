#include "xdp/xsk.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "xdp/permission.h"

#ifndef SO_PREFER_BUSY_POLL
#define SO_PREFER_BUSY_POLL 69
#endif
#ifndef SO_BUSY_POLL_BUDGET
#define SO_BUSY_POLL_BUDGET 70
#endif

namespace ustack::xdp {

namespace {

// A ring's header (the index words, each on its own cache line) is well
// under a page; an offset beyond this is not a ring header.
constexpr uint64_t kMaxRingHeader = 4096;

// A 32-bit index word at `at`, wholly before the entries at `desc`, aligned.
bool index_word_ok(uint64_t at, uint64_t desc) { return at % sizeof(uint32_t) == 0 && at + sizeof(uint32_t) <= desc; }

}  // namespace

Xsk& Xsk::operator=(Xsk&& o) noexcept {
  if (this == &o) return *this;
  close();
  fill = o.fill;
  comp = o.comp;
  rx = o.rx;
  tx = o.tx;
  in_kernel_rx = o.in_kernel_rx;
  fd_ = o.fd_;
  queue_ = o.queue_;
  for (int i = 0; i < 4; i++) maps_[i] = o.maps_[i];
  o.fd_ = -1;
  for (Mapped& m : o.maps_) m = Mapped{};
  o.fill = ProducerRing<uint64_t>();
  o.comp = ConsumerRing<uint64_t>();
  o.rx = ConsumerRing<xdp_desc>();
  o.tx = ProducerRing<xdp_desc>();
  return *this;
}

int Xsk::create(Error* err) {
  fd_ = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd_ >= 0) return 0;
  int e = errno;
  if (is_permission(e)) return permission_error(err, "socket(AF_XDP)", e);
  if (e == EAFNOSUPPORT) {
    return fail(err, "socket(AF_XDP)", e, "ERR_USTACK_XDP_UNSUPPORTED", "this kernel has no AF_XDP sockets (CONFIG_XDP_SOCKETS)");
  }
  return fail(err, "socket(AF_XDP)", e);
}

int Xsk::register_umem(uint8_t* base, size_t len, uint32_t chunk, Error* err) {
  xdp_umem_reg reg;
  std::memset(&reg, 0, sizeof reg);
  reg.addr = reinterpret_cast<uintptr_t>(base);
  reg.len = len;
  reg.chunk_size = chunk;
  reg.headroom = 0;
  if (setsockopt(fd_, SOL_XDP, XDP_UMEM_REG, &reg, sizeof reg) == 0) return 0;
  int e = errno;
  if (is_permission(e)) return permission_error(err, "setsockopt(XDP_UMEM_REG)", e);
  return fail(err, "setsockopt(XDP_UMEM_REG)", e);
}

int Xsk::map_rings(uint32_t n, bool with_tx, Error* err) {
  const int ring_opts[4] = {XDP_UMEM_FILL_RING, XDP_UMEM_COMPLETION_RING, XDP_RX_RING, XDP_TX_RING};
  for (int i = 0; i < (with_tx ? 4 : 3); i++) {
    if (setsockopt(fd_, SOL_XDP, ring_opts[i], &n, sizeof n) < 0) return fail(err, "setsockopt(XDP ring size)", errno);
  }
  xdp_mmap_offsets off;
  socklen_t olen = sizeof off;
  if (getsockopt(fd_, SOL_XDP, XDP_MMAP_OFFSETS, &off, &olen) < 0) return fail(err, "getsockopt(XDP_MMAP_OFFSETS)", errno);
  // Kernels before 5.4 answer without the flags offsets (no need_wakeup).
  if (olen != sizeof off) {
    return fail(err, "getsockopt(XDP_MMAP_OFFSETS)", EOPNOTSUPP, "ERR_USTACK_XDP_UNSUPPORTED",
                "this kernel's AF_XDP rings have no flags word (need_wakeup, Linux 5.4)");
  }
  struct RingSpec {
    const xdp_ring_offset* o;
    uint64_t pgoff;
    size_t entry;
  };
  const RingSpec specs[4] = {{&off.fr, XDP_UMEM_PGOFF_FILL_RING, sizeof(uint64_t)},
                             {&off.cr, XDP_UMEM_PGOFF_COMPLETION_RING, sizeof(uint64_t)},
                             {&off.rx, XDP_PGOFF_RX_RING, sizeof(xdp_desc)},
                             {&off.tx, XDP_PGOFF_TX_RING, sizeof(xdp_desc)}};
  RingMemory mem[4];
  for (int i = 0; i < (with_tx ? 4 : 3); i++) {
    // The kernel's offsets are used as they are only if the three index
    // words sit before the entries and are aligned (they are, in every
    // kernel; a view that says otherwise is refused, not dereferenced).
    const xdp_ring_offset& o = *specs[i].o;
    if (!index_word_ok(o.producer, o.desc) || !index_word_ok(o.consumer, o.desc) || !index_word_ok(o.flags, o.desc) ||
        o.desc % alignof(uint64_t) != 0 || o.desc > kMaxRingHeader) {
      return fail(err, "getsockopt(XDP_MMAP_OFFSETS)", EPROTO, "ERR_USTACK_XDP_UNSUPPORTED",
                  "the kernel's AF_XDP ring layout is not one ustack understands");
    }
    size_t len = specs[i].o->desc + static_cast<size_t>(n) * specs[i].entry;
    void* r = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, static_cast<off_t>(specs[i].pgoff));
    if (r == MAP_FAILED) return fail(err, "mmap(XDP ring)", errno);
    maps_[i] = {r, len};
    auto* base = static_cast<uint8_t*>(r);
    mem[i].producer = reinterpret_cast<uint32_t*>(base + specs[i].o->producer);
    mem[i].consumer = reinterpret_cast<uint32_t*>(base + specs[i].o->consumer);
    mem[i].flags = reinterpret_cast<uint32_t*>(base + specs[i].o->flags);
    mem[i].entries = base + specs[i].o->desc;
    mem[i].size = n;
  }
  fill.attach(mem[0]);
  comp.attach(mem[1]);
  rx.attach(mem[2]);
  if (with_tx) tx.attach(mem[3]);
  return 0;
}

void Xsk::prefer_busy_poll() {
  int one = 1, usecs = 20, budget = 64;
  setsockopt(fd_, SOL_SOCKET, SO_PREFER_BUSY_POLL, &one, sizeof one);
  setsockopt(fd_, SOL_SOCKET, SO_BUSY_POLL, &usecs, sizeof usecs);
  setsockopt(fd_, SOL_SOCKET, SO_BUSY_POLL_BUDGET, &budget, sizeof budget);
}

int Xsk::bind(int ifindex, uint32_t queue, uint16_t mode, int shared_fd) {
  sockaddr_xdp sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sxdp_family = AF_XDP;
  sa.sxdp_ifindex = static_cast<uint32_t>(ifindex);
  sa.sxdp_queue_id = queue;
  if (shared_fd >= 0) {
    sa.sxdp_flags = XDP_SHARED_UMEM;
    sa.sxdp_shared_umem_fd = static_cast<uint32_t>(shared_fd);
  } else {
    sa.sxdp_flags = static_cast<uint16_t>(mode | XDP_USE_NEED_WAKEUP);
  }
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) return -errno;
  queue_ = queue;
  return 0;
}

bool Xsk::zerocopy() const {
  xdp_options xo;
  socklen_t len = sizeof xo;
  return fd_ >= 0 && getsockopt(fd_, SOL_XDP, XDP_OPTIONS, &xo, &len) == 0 && (xo.flags & XDP_OPTIONS_ZEROCOPY) != 0;
}

xdp_statistics Xsk::statistics() const {
  xdp_statistics s;
  std::memset(&s, 0, sizeof s);
  if (fd_ < 0) return s;
  socklen_t len = sizeof s;
  if (getsockopt(fd_, SOL_XDP, XDP_STATISTICS, &s, &len) < 0) std::memset(&s, 0, sizeof s);
  return s;
}

void Xsk::close() {
  for (Mapped& m : maps_) {
    if (m.at != nullptr) munmap(m.at, m.len);
    m = Mapped{};
  }
  fill = ProducerRing<uint64_t>();
  comp = ConsumerRing<uint64_t>();
  rx = ConsumerRing<xdp_desc>();
  tx = ProducerRing<xdp_desc>();
  in_kernel_rx = 0;
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

}  // namespace ustack::xdp
