#include "tap/tap.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

namespace ustack::tap {

namespace {

// Fills ifr_name; -EINVAL if the name is empty or does not fit IFNAMSIZ.
int prepare_ifreq(const std::string& name, struct ifreq* ifr) {
  std::memset(ifr, 0, sizeof *ifr);
  if (name.empty() || name.size() >= IFNAMSIZ || name.find('\0') != std::string::npos) {
    return -EINVAL;
  }
  std::memcpy(ifr->ifr_name, name.data(), name.size());
  return 0;
}

// Runs one SIOC* ioctl on a throwaway AF_INET datagram socket.
int inet_ioctl(unsigned long req, struct ifreq* ifr) {
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -errno;
  int rc = ::ioctl(s, req, ifr);
  int e = errno;
  ::close(s);
  return rc < 0 ? -e : 0;
}

void set_sockaddr_in(struct sockaddr* sa, uint32_t addr_be) {
  struct sockaddr_in sin;
  std::memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = addr_be;
  std::memcpy(sa, &sin, sizeof sin);
}

}  // namespace

int open_tap(const std::string& name, const OpenOptions& opts, OpenResult* out, Error* err) {
  struct ifreq ifr;
  int rc = prepare_ifreq(name, &ifr);
  if (rc < 0) return fail(err, "ioctl(TUNSETIFF)", -rc);
  if (opts.vnet_hdr_len != 0 && opts.vnet_hdr_len != 10 && opts.vnet_hdr_len != 12) {
    return fail(err, "ioctl(TUNSETIFF)", EINVAL);
  }

  int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return fail(err, "open", errno);

  // Closes fd and records the failed call (errno as the call left it).
  auto close_fail = [&](const char* call) {
    int e = errno;
    ::close(fd);
    return fail(err, call, e);
  };

  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (opts.vnet_hdr_len != 0 ? IFF_VNET_HDR : 0);
  if (::ioctl(fd, TUNSETIFF, &ifr) < 0) return close_fail("ioctl(TUNSETIFF)");

  if (opts.vnet_hdr_len != 0) {
    // Header size first, then the offloads the kernel may use toward us
    // (it only sends partial checksums / GSO frames once we accept them).
    int sz = opts.vnet_hdr_len;
    if (::ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) return close_fail("ioctl(TUNSETVNETHDRSZ)");
    if (::ioctl(fd, TUNSETOFFLOAD, static_cast<unsigned long>(opts.offload_flags)) < 0) {
      return close_fail("ioctl(TUNSETOFFLOAD)");
    }
  }

  // A device we can attach to by name without creating it must have been
  // persistent; one we just created is not (yet). TUNGETIFF reports the flags.
  struct ifreq got;
  std::memset(&got, 0, sizeof got);
  bool persistent = false;
  if (::ioctl(fd, TUNGETIFF, &got) == 0) persistent = (got.ifr_flags & IFF_PERSIST) != 0;

  if (!persistent) {
    // Make sure the device goes away with the fd (it is the default, but be explicit).
    if (::ioctl(fd, TUNSETPERSIST, 0) < 0) return close_fail("ioctl(TUNSETPERSIST)");
  }

  out->fd = fd;
  out->name.assign(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
  out->pre_existed = persistent;
  return 0;
}

bool is_device_gone(int err) { return err == EBADFD || err == ENODEV || err == ENXIO; }

int check_attached(int fd) {
  struct ifreq ifr;
  std::memset(&ifr, 0, sizeof ifr);
  return ::ioctl(fd, TUNGETIFF, &ifr) < 0 ? -errno : 0;
}

int read_burst(int fd, uint8_t* pool_base, uint32_t slot_size, const uint32_t* slots,
               uint32_t* lens, uint32_t max, Counters* c, bool vnet, uint8_t* flags) {
  uint32_t got = 0;
  uint8_t h[kVnetHdrLen];
  while (got < max) {
    uint8_t* dst = pool_base + static_cast<size_t>(slots[got]) * slot_size;
    ssize_t n;
    if (vnet) {
      struct iovec iov[2] = {{h, kVnetHdrLen}, {dst, slot_size}};
      n = ::readv(fd, iov, 2);
      if (n >= 0) {
        // A read shorter than the header cannot happen with a valid device;
        // treat it as an empty frame (dropped below as a runt by the stack).
        if (n < static_cast<ssize_t>(kVnetHdrLen)) std::memset(h, 0, sizeof h);
        n = n >= static_cast<ssize_t>(kVnetHdrLen) ? n - static_cast<ssize_t>(kVnetHdrLen) : 0;
      }
    } else {
      n = ::read(fd, dst, slot_size);
    }
    if (n < 0) {
      int e = errno;
      if (e == EINTR) continue;
      if (e == EAGAIN || e == EWOULDBLOCK) {
        c->rx_eagain++;
        break;
      }
      c->rx_errors++;
      c->last_rx_errno = e;
      if (is_device_gone(e) && c->gone_errno == 0) c->gone_errno = e;
      if (got == 0) return -e;
      break;
    }
    if (n == 0) break;
    // tun returns the frame's full length even when only slot_size bytes
    // fit (with IFF_NO_PI there is no truncation flag): drop such a frame.
    if (static_cast<size_t>(n) > slot_size) {
      c->rx_truncated++;
      continue;  // reuse the same slot for the next frame
    }
    uint32_t len = static_cast<uint32_t>(n);
    lens[got] = len;
    c->rx_frames++;
    c->rx_bytes += len;
    if (len > c->rx_largest) c->rx_largest = len;
    if (vnet) {
      vnet::Hdr hdr = vnet::read(h);
      if (hdr.gso()) {
        c->rx_gso_frames++;
        c->rx_gso_bytes += len;
      }
      vnet::RxCsum what;
      uint8_t flag = vnet::rx_checksum(hdr, dst, len, flags == nullptr, &what);
      if (flags != nullptr) flags[got] = flag;
      if (what == vnet::RxCsum::kPartial || what == vnet::RxCsum::kCompleted || what == vnet::RxCsum::kMalformed) c->rx_csum_partial++;
      else if (what == vnet::RxCsum::kValid) c->rx_csum_valid++;
      if (what == vnet::RxCsum::kCompleted) c->rx_csum_completed++;
    } else if (flags != nullptr) {
      flags[got] = 0;
    }
    got++;
  }
  return static_cast<int>(got);
}

int write_burst(int fd, const uint8_t* pool_base, uint32_t slot_size, const uint32_t* slots,
                const uint32_t* lens, uint32_t n, Counters* c, const vnet::TxCaps* vnet) {
  uint32_t taken = 0;
  uint8_t h[kVnetHdrLen];
  while (taken < n) {
    const uint8_t* src = pool_base + static_cast<size_t>(slots[taken]) * slot_size;
    vnet::Hdr hdr;
    ssize_t w;
    if (vnet != nullptr) {
      hdr = vnet::tx_header(src, lens[taken], *vnet);
      vnet::write(h, hdr);
      struct iovec iov[2] = {{h, kVnetHdrLen}, {const_cast<uint8_t*>(src), lens[taken]}};
      w = ::writev(fd, iov, 2);
      if (w >= 0) w = w >= static_cast<ssize_t>(kVnetHdrLen) ? w - static_cast<ssize_t>(kVnetHdrLen) : 0;
    } else {
      w = ::write(fd, src, lens[taken]);
    }
    if (w < 0) {
      int e = errno;
      if (e == EINTR) continue;
      if (e == EAGAIN || e == EWOULDBLOCK) {
        c->tx_eagain++;
        break;
      }
      c->last_tx_errno = e;
      if (is_device_gone(e)) {
        // Every later write fails the same way: drop the rest of the burst.
        if (c->gone_errno == 0) c->gone_errno = e;
        c->tx_errors += n - taken;
        taken = n;
        break;
      }
      // The kernel refused this frame (e.g. EINVAL for a runt, EIO while the
      // link is down): drop it, count it, and go on with the rest.
      c->tx_errors++;
      taken++;
      continue;
    }
    c->tx_frames++;
    c->tx_bytes += static_cast<uint64_t>(w);
    if (static_cast<uint64_t>(w) > c->tx_largest) c->tx_largest = static_cast<uint64_t>(w);
    if (vnet != nullptr) {
      if (hdr.gso()) {
        c->tx_gso_frames++;
        c->tx_gso_bytes += static_cast<uint64_t>(w);
      }
      if (hdr.flags & vnet::kFlagNeedsCsum) c->tx_csum_offload++;
    }
    taken++;
  }
  return static_cast<int>(taken);
}

void close_tap(int fd) {
  if (fd >= 0) ::close(fd);
}

int set_ipv4(const std::string& ifname, uint32_t addr_be, int prefix_len) {
  if (prefix_len > 32) return -EINVAL;
  struct ifreq ifr;
  int rc = prepare_ifreq(ifname, &ifr);
  if (rc < 0) return rc;
  set_sockaddr_in(&ifr.ifr_addr, addr_be);
  rc = inet_ioctl(SIOCSIFADDR, &ifr);
  if (rc < 0 || prefix_len < 0) return rc;

  prepare_ifreq(ifname, &ifr);
  uint32_t mask = prefix_len == 0 ? 0 : htonl(0xffffffffu << (32 - prefix_len));
  set_sockaddr_in(&ifr.ifr_netmask, mask);
  // The kernel recomputes the broadcast address when the netmask changes.
  return inet_ioctl(SIOCSIFNETMASK, &ifr);
}

int set_mtu(const std::string& ifname, int mtu) {
  struct ifreq ifr;
  int rc = prepare_ifreq(ifname, &ifr);
  if (rc < 0) return rc;
  ifr.ifr_mtu = mtu;
  return inet_ioctl(SIOCSIFMTU, &ifr);
}

int get_mtu(const std::string& ifname) {
  struct ifreq ifr;
  int rc = prepare_ifreq(ifname, &ifr);
  if (rc < 0) return rc;
  rc = inet_ioctl(SIOCGIFMTU, &ifr);
  return rc < 0 ? rc : ifr.ifr_mtu;
}

int get_flags(const std::string& ifname) {
  struct ifreq ifr;
  int rc = prepare_ifreq(ifname, &ifr);
  if (rc < 0) return rc;
  rc = inet_ioctl(SIOCGIFFLAGS, &ifr);
  return rc < 0 ? rc : (ifr.ifr_flags & 0xffff);
}

int set_up(const std::string& ifname, bool up) {
  int flags = get_flags(ifname);
  if (flags < 0) return flags;
  int want = up ? (flags | IFF_UP) : (flags & ~IFF_UP);
  if (want == flags) return 0;
  struct ifreq ifr;
  prepare_ifreq(ifname, &ifr);
  ifr.ifr_flags = static_cast<short>(want);
  return inet_ioctl(SIOCSIFFLAGS, &ifr);
}

int get_mac(const std::string& ifname, uint8_t mac[6]) {
  struct ifreq ifr;
  int rc = prepare_ifreq(ifname, &ifr);
  if (rc < 0) return rc;
  rc = inet_ioctl(SIOCGIFHWADDR, &ifr);
  if (rc < 0) return rc;
  std::memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
  return 0;
}

}  // namespace ustack::tap
