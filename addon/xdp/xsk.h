// One AF_XDP socket and its rings, on one receive queue. The first socket
// of a port registers the UMEM and has all four rings; each further one
// (another queue of the same interface) shares that UMEM (XDP_SHARED_UMEM)
// with fill and completion rings of its own and receives only: the port
// transmits through its first socket. Plain POSIX, no N-API.
#pragma once
#include <linux/if_xdp.h>

#include <cstddef>
#include <cstdint>

#include "common/error.h"
#include "xdp/rings.h"

namespace ustack::xdp {

class Xsk {
 public:
  Xsk() = default;
  ~Xsk() { close(); }
  Xsk(const Xsk&) = delete;
  Xsk& operator=(const Xsk&) = delete;
  Xsk(Xsk&& o) noexcept { *this = static_cast<Xsk&&>(o); }
  Xsk& operator=(Xsk&& o) noexcept;

  // socket(AF_XDP); -errno with *err filled (ERR_USTACK_NO_PERMISSION, ERR_USTACK_XDP_UNSUPPORTED).
  int create(Error* err);
  // The first socket of a port: XDP_UMEM_REG over [base, base + len).
  int register_umem(uint8_t* base, size_t len, uint32_t chunk, Error* err);
  // Ring sizes and their mappings: fill and completion always, RX always,
  // TX only when `tx`. `size` is a power of two.
  int map_rings(uint32_t size, bool tx, Error* err);
  // SO_PREFER_BUSY_POLL, SO_BUSY_POLL, SO_BUSY_POLL_BUDGET, where the kernel has them.
  void prefer_busy_poll();
  // bind(2) to ifindex/queue with XDP_USE_NEED_WAKEUP and `mode` (XDP_COPY
  // or XDP_ZEROCOPY); with shared_fd >= 0, XDP_SHARED_UMEM with that socket.
  // Returns 0 or -errno.
  int bind(int ifindex, uint32_t queue, uint16_t mode, int shared_fd);
  // Whether the bound socket runs in zero-copy mode (XDP_OPTIONS).
  bool zerocopy() const;
  // The kernel's XDP_STATISTICS for the socket (zeros when unavailable).
  xdp_statistics statistics() const;
  void close();

  int fd() const { return fd_; }
  uint32_t queue() const { return queue_; }
  bool has_tx() const { return tx.attached(); }

  ProducerRing<uint64_t> fill;
  ConsumerRing<uint64_t> comp;
  ConsumerRing<xdp_desc> rx;
  ProducerRing<xdp_desc> tx;
  uint32_t in_kernel_rx = 0;  // slots in this socket's fill ring or held by the kernel for RX

 private:
  struct Mapped {
    void* at = nullptr;
    size_t len = 0;
  };
  int fd_ = -1;
  uint32_t queue_ = 0;
  Mapped maps_[4];
};

}  // namespace ustack::xdp
