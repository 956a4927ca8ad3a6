// An AF_XDP port: XDP sockets (xsk.h) on one receive queue of a Linux
// interface, or on every one of them (all_queues: a multi-queue NIC spreads
// flows over its queues by hash), sharing one UMEM, with ustack's XDP
// program (program.h) deciding which frames come to them.
// Plain C++ and POSIX, no N-API (addon/napi/xdp_device.cc binds it).
//
// Memory: the UMEM is the stack's slot pool. Slot i is UMEM chunk i; the
// kernel writes a received frame XDP_PACKET_HEADROOM (256) bytes into its
// chunk, so the pool JavaScript sees starts 256 bytes into the UMEM: slot i
// at pool offset i * chunk is chunk i's frame, and a frame always starts at
// slot offset 0, as the Nic contract says. The mapping has one page more
// than the UMEM, so the last slot's view stays inside it; a frame is at
// most chunk - 256 bytes.
//
// Ownership: the free-slot stack shared with JavaScript and the driver's own
// record of every slot (slots/slots.h, the same table the e1000 and virtio use):
//   kRx  in the fill ring, or in the kernel's hands until it comes back on RX
//   kTx  in the TX ring, until the completion ring gives it back
//   kJs / kFree  with JavaScript / on the free stack
// Nothing read from a ring is trusted either: a descriptor's address must
// name a slot the driver gave the kernel, its length must fit.
//
// System calls: none per frame. Fill and TX entries are published once per
// burst; with XDP_USE_NEED_WAKEUP the driver kicks the kernel (sendto for TX,
// recvfrom for the fill ring) only when the ring's flag asks for it. In copy
// mode the kernel's TX ring always asks, and one sendto moves at most 32
// frames (the kernel's TX batch), so a TX burst costs about n / 32 calls.
// The idle wake-up is poll(POLLIN) on the socket (the binding's uv_poll);
// with several sockets, on an epoll set holding them all (fd()).
//
// The program is attached through a bpf_link, so it goes away when the last
// copy of the link's fd closes: close(), exit, a crash or SIGKILL alike.
#pragma once
#include <linux/if_xdp.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "slots/slots.h"
#include "xdp/rings.h"
#include "xdp/xsk.h"

namespace ustack::xdp {

namespace slots = ustack::slots;

constexpr uint32_t kHeadroom = 256;  // XDP_PACKET_HEADROOM: where the kernel puts a received frame in its chunk

enum class Mode : uint8_t { kAuto, kNative, kGeneric };
enum class ZeroCopy : uint8_t { kAuto, kOn, kOff };

struct Options {
  uint32_t queue = 0;
  bool all_queues = false;  // one socket on every receive queue (queue is then ignored)
  Mode mode = Mode::kAuto;
  ZeroCopy zerocopy = ZeroCopy::kAuto;
  bool busy_poll = false;
  // Shared-address mode (program.h build_shared_program): only TCP/UDP to
  // the stack's ports comes to the socket; the kernel keeps ARP and ICMP.
  bool shared = false;
  uint16_t ephemeral_low = 0;
  uint16_t ephemeral_high = 0;
  uint32_t slot_count = 8192;  // UMEM chunks
  uint32_t ring_size = 2048;   // entries of each of the four rings (a power of two)
  // The UMEM in a file the caller made (a shard owner's shared region,
  // addon/shm/region.h): mapped MAP_SHARED from umem_fd at umem_offset (page
  // aligned; slot_count * chunk + one page must lie inside the file), so
  // other processes see the frames in place. -1: anonymous memory.
  int umem_fd = -1;
  uint64_t umem_offset = 0;
  // Slots at or above this index are not the free stack's (a shard
  // worker's own partition): a completed transmit of one goes to the
  // completed list (take_completed) instead of the free stack. 0: none.
  uint32_t foreign_from = 0;
};

// The frame size a chunk holds, and the chunk for an MTU (0: too large for
// one chunk; AF_XDP multi-buffer frames are not used).
inline uint32_t frame_capacity(uint32_t chunk) { return chunk - kHeadroom; }
inline uint32_t chunk_for_mtu(uint32_t mtu) {
  uint32_t frame = mtu + 18;  // Ethernet header + a VLAN tag
  if (frame <= frame_capacity(2048)) return 2048;
  if (frame <= frame_capacity(4096)) return 4096;
  return 0;
}

struct Counters {
  uint64_t rx_frames = 0;
  uint64_t rx_bytes = 0;
  uint64_t rx_bad_desc = 0;   // RX descriptors naming no slot we gave, or a length that does not fit (dropped)
  uint64_t rx_moved = 0;      // frames not at the usual headroom, moved there
  uint64_t fill_empty = 0;    // refills that found no free slot
  uint64_t fill_kicks = 0;    // recvfrom calls because the fill ring asked for a wake-up
  uint64_t busy_polls = 0;    // recvfrom calls driving the kernel's busy poll on an empty RX ring
  uint64_t tx_frames = 0;
  uint64_t tx_bytes = 0;
  uint64_t tx_ring_full = 0;  // frames a TX burst could not place (left with the caller)
  uint64_t tx_kicks = 0;      // sendto calls
  uint64_t tx_kick_again = 0; // ... that said EAGAIN (more to send, or the completion ring was full)
  uint64_t tx_kick_busy = 0;  // ... that said EBUSY (the device dropped a frame)
  uint64_t tx_kick_errors = 0;// ... that failed otherwise (last_tx_errno)
  uint64_t completions = 0;
  uint64_t bad_completions = 0;  // completion entries naming no slot in TX (ignored)
  int last_tx_errno = 0;
};

class Device {
 public:
  Device() = default;
  ~Device() { close(); }
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  // Everything up to the socket's bind: the UMEM, the rings, the maps, the
  // program, attached. Errors carry a ustack code where the cause is known:
  // ERR_USTACK_NO_DEVICE, ERR_USTACK_QUEUE_OUT_OF_RANGE, ERR_USTACK_NO_PERMISSION,
  // ERR_USTACK_XDP_UNSUPPORTED, ERR_USTACK_XDP_BUSY, ERR_USTACK_XDP_IN_USE,
  // ERR_USTACK_MTU_TOO_LARGE.
  int open(const std::string& ifname, const Options& opts, Error* err);
  // Attaches the shared free stack ([count, slot...], capacity slots), fills
  // the fill rings, binds the sockets to their queues and puts them in the XSKMAP.
  int start(uint32_t* free_stack, uint32_t capacity, Error* err);
  void close();
  bool is_open() const { return !xsks_.empty(); }

  // The stack's IPv4 addresses (network byte order) the program redirects.
  int set_addresses(const uint32_t* addrs, uint32_t n);
  // The IPv6 map's keys (program.h): n addresses of 16 bytes each, as on the wire.
  int set_addresses6(const uint8_t* addrs, uint32_t n);
  // The multicast groups (n MACs of 6 bytes) the interface must receive for
  // the stack (its solicited-node groups): memberships of an AF_PACKET
  // socket the device holds (PACKET_ADD_MEMBERSHIP), so the kernel puts them
  // in the NIC's filter and drops them when the socket closes, whatever
  // ends the process. Returns 0 or -errno.
  int set_multicast(const uint8_t* macs, uint32_t n);
  // Shared mode: the listening ports (protocol << 16 | port) the program redirects.
  int set_ports(const uint32_t* keys, uint32_t n);
  // The kernel's neighbour entry for ip (network order): 0 with the MAC, or
  // -errno after asking the kernel to resolve it (shared mode's ARP).
  int neighbor(uint32_t ip, uint8_t mac[6]);

  // Up to max received frames: slot indices and lengths. Refills the fill ring.
  uint32_t rx_burst(uint32_t* out_slots, uint32_t* out_lens, uint32_t max);
  // Places frames in the TX ring and kicks the kernel when it asks. Refuses
  // the whole burst (returns 0, *refusal set) if any slot is not the caller's.
  uint32_t tx_burst(const uint32_t* slot_ids, const uint32_t* lens, uint32_t n, slots::Refusal* refusal,
                    uint32_t* refused_slot);
  // Slots the kernel finished sending, back on the free stack (foreign
  // ones, Options::foreign_from, to the completed list).
  uint32_t reclaim();
  // Foreign slots whose transmit completed since the last call (at most max).
  uint32_t take_completed(uint32_t* out, uint32_t max);
  // True when a frame waits in an RX ring (checked after arming the wake-up).
  bool rx_pending() const;
  // Kicks frames a cut-short kick left in the TX ring; true while some
  // remain (the caller must not sleep: no wake-up comes for TX).
  bool flush_tx();

  // What to poll for the wake-up: the socket, or the epoll set of all of them.
  int fd() const { return epoll_fd_ >= 0 ? epoll_fd_ : (xsks_.empty() ? -1 : xsks_[0].fd()); }
  uint8_t* pool() const { return umem_ + kHeadroom; }
  size_t pool_bytes() const { return static_cast<size_t>(slot_count_) * chunk_; }
  uint32_t slot_size() const { return chunk_; }
  uint32_t slot_count() const { return slot_count_; }
  uint32_t max_frame() const { return frame_capacity(chunk_); }
  const uint8_t* mac() const { return mac_; }
  uint32_t mtu() const { return mtu_; }
  int ifindex() const { return ifindex_; }
  uint32_t queue() const { return xsks_.empty() ? opts_.queue : xsks_[0].queue(); }
  uint32_t queue_count() const { return static_cast<uint32_t>(xsks_.size()); }
  // Slots in the fill rings or with the kernel for receiving, all sockets.
  uint32_t in_kernel_rx() const {
    uint32_t n = 0;
    for (const Xsk& x : xsks_) n += x.in_kernel_rx;
    return n;
  }
  bool native() const { return native_; }
  bool zerocopy() const { return zerocopy_; }
  uint32_t prog_id() const { return prog_id_; }
  uint32_t link_id() const { return link_id_; }
  bool shared() const { return opts_.shared; }
  uint32_t stale_replaced() const { return stale_replaced_; }
  const Counters& counters() const { return c_; }
  const slots::Faults& slot_faults() const { return table_.faults(); }
  // The kernel's XDP_STATISTICS, summed over the sockets.
  xdp_statistics kernel_stats() const;
  // The program's counter (program.h Counter), 0 when unavailable.
  uint64_t program_counter(uint32_t which) const;

 private:
  int attach(Error* err);
  int bind_sockets(Error* err);
  void refill(Xsk& x);
  void kick_tx();
  uint32_t rx_from(Xsk& x, uint32_t* out_slots, uint32_t* out_lens, uint32_t max);

  Options opts_;
  std::string ifname_;
  int ifindex_ = 0;
  uint8_t mac_[6] = {};
  uint32_t mtu_ = 0;

  uint8_t* umem_ = nullptr;
  size_t map_bytes_ = 0;
  uint32_t chunk_ = 0;
  uint32_t slot_count_ = 0;

  std::vector<Xsk> xsks_;  // xsks_[0] registered the UMEM and is the one that transmits
  int epoll_fd_ = -1;
  uint32_t rx_next_ = 0;   // the socket a receive burst starts with (round robin)
  int xsks_map_fd_ = -1;
  int addrs_map_fd_ = -1;
  int addrs6_map_fd_ = -1;
  int mc_fd_ = -1;                                 // the AF_PACKET socket holding set_multicast's memberships
  std::vector<std::array<uint8_t, 6>> mc_groups_;  // its memberships
  int counters_map_fd_ = -1;
  int ports_map_fd_ = -1;
  int prog_fd_ = -1;
  int link_fd_ = -1;
  uint32_t prog_id_ = 0;
  uint32_t link_id_ = 0;
  uint32_t stale_replaced_ = 0;
  bool native_ = false;
  bool zerocopy_ = false;
  bool bound_ = false;

  uint32_t fill_target_ = 0;  // per socket
  std::vector<uint32_t> completed_;  // foreign slots sent, for take_completed

  slots::Table table_;
  Counters c_;
};

}  // namespace ustack::xdp
