// TAP backend: plain POSIX, no N-API types here.
//
// Every function returns a non-negative value on success and -errno on
// failure, so the N-API layer can turn failures into Node-style errors;
// open_tap also says which call failed (common/error.h).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/error.h"
#include "vnet_hdr/vnet_hdr.h"

namespace ustack::tap {

// With offloads every frame crosses the fd behind a 12-byte virtio_net_hdr
// (vnet_hdr/vnet_hdr.h builds and reads it; the virtio-net driver shares it).
constexpr uint32_t kVnetHdrLen = vnet::kHdrLen;  // we always ask for the 12-byte (mrg_rxbuf) form
constexpr unsigned kTunOffloadCsum = 0x01;  // TUN_F_CSUM
constexpr unsigned kTunOffloadTso4 = 0x02;  // TUN_F_TSO4

// How the TAP device is opened.
struct OpenOptions {
  // Request IFF_VNET_HDR and set TUNSETVNETHDRSZ to this size (0 = plain
  // frames; otherwise must be 10 or 12). Every read/write then carries a
  // virtio_net_hdr in front of the frame.
  int vnet_hdr_len = 0;
  // With a vnet header: TUNSETOFFLOAD flags (TUN_F_CSUM, TUN_F_TSO4, ...) the
  // kernel may use toward us (partial checksums, GSO super-frames).
  unsigned offload_flags = 0;
};

struct OpenResult {
  int fd = -1;
  std::string name;          // the kernel's name for the device
  bool pre_existed = false;  // device existed (persistent) before we attached
};

// Opens /dev/net/tun (O_NONBLOCK | O_CLOEXEC) and creates or attaches the TAP
// device `name` with IFF_TAP | IFF_NO_PI. A device we create has its persist
// flag cleared so it disappears when the fd is closed; a pre-existing
// (persistent) device is left as it was. Returns 0, or -errno with *err
// naming the call that failed.
int open_tap(const std::string& name, const OpenOptions& opts, OpenResult* out, Error* err);

// Per-device counters, updated by read_burst / write_burst.
struct Counters {
  uint64_t rx_frames = 0;
  uint64_t rx_bytes = 0;
  uint64_t rx_errors = 0;     // read() failed with something other than EAGAIN
  uint64_t rx_truncated = 0;  // frame longer than a slot: dropped
  uint64_t rx_eagain = 0;     // read bursts that ended on EAGAIN
  uint64_t tx_frames = 0;
  uint64_t tx_bytes = 0;
  uint64_t tx_errors = 0;     // write() failed (frame dropped)
  uint64_t tx_eagain = 0;     // write bursts cut short by EAGAIN (backpressure)
  int last_rx_errno = 0;
  int last_tx_errno = 0;
  // The first errno that says the device is gone (is_device_gone), 0 while
  // it is there. Sticky: a TAP fd whose device was deleted never works again.
  int gone_errno = 0;
  // With a vnet header:
  uint64_t rx_gso_frames = 0;     // frames the kernel sent as GSO super-frames
  uint64_t rx_gso_bytes = 0;
  uint64_t rx_csum_partial = 0;   // NEEDS_CSUM (checksum left to us)
  uint64_t rx_csum_valid = 0;     // DATA_VALID
  uint64_t rx_csum_completed = 0; // of the NEEDS_CSUM ones, completed here (no per-frame flags wanted)
  uint64_t rx_largest = 0;        // longest frame read
  uint64_t tx_gso_frames = 0;     // frames handed to the kernel for segmentation
  uint64_t tx_gso_bytes = 0;
  uint64_t tx_csum_offload = 0;   // frames with NEEDS_CSUM
  uint64_t tx_largest = 0;        // longest frame written
};

// Whether `err`, from a read or write on a TAP fd, means the device is gone
// for good: deleted under us (`ip link del`), which detaches the fd, and tun
// then answers every read, write and ioctl with EBADFD (and poll with
// POLLERR); ENODEV and ENXIO say the same of a device that no longer exists.
// EIO is not one of them: tun refuses a write with EIO while the link is
// merely down (`ip link set down`), and that ends when the link comes up.
bool is_device_gone(int err);

// 0 while `fd` is still attached to its device, else -errno (-EBADFD once
// the device was deleted). A TUNGETIFF ioctl: it reads no frame, so it can
// tell a wake-up error from a vanished device without losing traffic.
int check_attached(int fd);

// Reads frames into pool slots: frame i goes to pool_base + slots[i] * slot_size
// and its length to lens[i]. Stops at EAGAIN or after `max` frames. Callers
// validate slot indices. Returns the number read; -errno if the very first
// read failed with a real error (an error after some frames is recorded in
// `c` and the frames read so far are returned). A device-gone errno also
// sets c->gone_errno.
//
// With `vnet` (device opened with offloads), each frame comes behind its
// virtio_net_hdr (readv: header, then the slot), which vnet::rx_checksum
// reads: with `flags` (room for max bytes) frame i's receive flag goes to
// flags[i]; without, partial checksums are completed in the slot.
int read_burst(int fd, uint8_t* pool_base, uint32_t slot_size, const uint32_t* slots,
               uint32_t* lens, uint32_t max, Counters* c, bool vnet = false,
               uint8_t* flags = nullptr);

// Writes n frames (slot i, lens[i] bytes). Stops at EAGAIN. A frame the
// kernel rejects with a real error is dropped and counted (it still counts as
// taken). Returns how many frames were taken, 0..n. A device-gone errno sets
// c->gone_errno and drops the rest of the burst too (counted in tx_errors,
// taken): no later write can succeed.
// With `vnet` (device opened with offloads), each frame is written behind
// the virtio_net_hdr vnet::tx_header builds for it with these caps (writev).
int write_burst(int fd, const uint8_t* pool_base, uint32_t slot_size, const uint32_t* slots,
                const uint32_t* lens, uint32_t n, Counters* c, const vnet::TxCaps* vnet = nullptr);

// Closes the fd; the kernel removes a non-persistent device.
void close_tap(int fd);

// ---- Host (kernel side) configuration, via ioctls on an AF_INET socket ----

// Sets the IPv4 address (network byte order) and, when prefix_len >= 0, the
// netmask. prefix_len < 0 leaves the kernel's classful default.
int set_ipv4(const std::string& ifname, uint32_t addr_be, int prefix_len);
int set_mtu(const std::string& ifname, int mtu);
int get_mtu(const std::string& ifname);  // mtu or -errno
int set_up(const std::string& ifname, bool up);
int get_flags(const std::string& ifname);  // IFF_* or -errno
int get_mac(const std::string& ifname, uint8_t mac[6]);

}  // namespace ustack::tap
