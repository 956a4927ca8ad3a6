// TAP backend: plain POSIX, no N-API types here.
//
// Every function returns a non-negative value on success and -errno on
// failure, so the N-API layer can turn failures into Node-style errors.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace ustack::tap {

// How the TAP device is opened. Only plain Ethernet frames for now; the
// fields below are where IFF_VNET_HDR offloads (checksum, GSO) will go.
struct OpenOptions {
  // Reserved: request IFF_VNET_HDR and set TUNSETVNETHDRSZ to this size
  // (0 = no virtio-net header in front of each frame). Not implemented yet;
  // open_tap() rejects a non-zero value with -EOPNOTSUPP.
  int vnet_hdr_len = 0;
};

struct OpenResult {
  int fd = -1;
  std::string name;          // the kernel's name for the device
  bool pre_existed = false;  // device existed (persistent) before we attached
  const char* failed_call = "";  // on failure: the call that failed, for error messages
};

// Opens /dev/net/tun (O_NONBLOCK | O_CLOEXEC) and creates or attaches the TAP
// device `name` with IFF_TAP | IFF_NO_PI. A device we create has its persist
// flag cleared so it disappears when the fd is closed; a pre-existing
// (persistent) device is left as it was. Returns 0 or -errno.
int open_tap(const std::string& name, const OpenOptions& opts, OpenResult* out);

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
};

// Reads frames into pool slots: frame i goes to pool_base + slots[i] * slot_size
// and its length to lens[i]. Stops at EAGAIN or after `max` frames. Callers
// validate slot indices. Returns the number read; -errno if the very first
// read failed with a real error (an error after some frames is recorded in
// `c` and the frames read so far are returned).
int read_burst(int fd, uint8_t* pool_base, uint32_t slot_size, const uint32_t* slots,
               uint32_t* lens, uint32_t max, Counters* c);

// Writes n frames (slot i, lens[i] bytes). Stops at EAGAIN. A frame the
// kernel rejects with a real error is dropped and counted (it still counts as
// taken). Returns how many frames were taken, 0..n.
int write_burst(int fd, const uint8_t* pool_base, uint32_t slot_size, const uint32_t* slots,
                const uint32_t* lens, uint32_t n, Counters* c);

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
