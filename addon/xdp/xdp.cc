#include "xdp/xdp.h"

#include <linux/bpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "dma/view_hold.h"
#include "xdp/bpf_sys.h"
#include "xdp/netlink_xdp.h"
#include "xdp/program.h"
#include "xdp/queues.h"

#ifndef SO_PREFER_BUSY_POLL
#define SO_PREFER_BUSY_POLL 69
#endif
#ifndef SO_BUSY_POLL_BUDGET
#define SO_BUSY_POLL_BUDGET 70
#endif

namespace ustack::xdp {

namespace {

constexpr uint32_t kAddressMapEntries = 64;
constexpr uint32_t kPortMapEntries = 1024;
constexpr int kBindBusyRetries = 200;       // 200 x 5 ms: at most a second
constexpr useconds_t kBindBusyWaitUs = 5000;
constexpr uint32_t kPage = 4096;

bool power_of_two(uint32_t v) { return v != 0 && (v & (v - 1)) == 0; }

int permission(Error* err, const char* syscall, int e) {
  return fail(err, syscall, e, "ERR_USTACK_NO_PERMISSION",
              "AF_XDP needs CAP_NET_ADMIN, CAP_BPF (or CAP_SYS_ADMIN) and CAP_NET_RAW: run as root or grant them");
}

bool is_permission(int e) { return e == EPERM || e == EACCES; }

int if_query(const std::string& name, unsigned long req, ifreq* ifr) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  std::memset(ifr, 0, sizeof *ifr);
  std::strncpy(ifr->ifr_name, name.c_str(), IFNAMSIZ - 1);
  int rc = ioctl(fd, req, ifr);
  int e = errno;
  ::close(fd);
  return rc < 0 ? -e : 0;
}

void close_fd(int* fd) {
  if (*fd >= 0) {
    ::close(*fd);
    *fd = -1;
  }
}

}  // namespace

int Device::open(const std::string& ifname, const Options& opts, Error* err) {
  if (is_open()) return fail(err, "open", EBUSY, "ERR_USTACK_ALREADY_OPEN", "the device is already open");
  if (!power_of_two(opts.ring_size) || opts.ring_size < 64 || opts.ring_size > 16384) {
    return fail(err, "open", EINVAL, "ERR_OUT_OF_RANGE", "ring size must be a power of two in [64, 16384]");
  }
  if (opts.slot_count < 2 * opts.ring_size || opts.slot_count > (1u << 20)) {
    return fail(err, "open", EINVAL, "ERR_OUT_OF_RANGE", "slot count must be in [2 * ring size, 1048576]");
  }
  opts_ = opts;
  ifname_ = ifname;
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) {
    return fail(err, "if_nametoindex", ENODEV, "ERR_USTACK_NO_DEVICE", "no interface named '" + ifname + "'");
  }
  ifindex_ = static_cast<int>(if_nametoindex(ifname.c_str()));
  if (ifindex_ == 0) {
    return fail(err, "if_nametoindex", ENODEV, "ERR_USTACK_NO_DEVICE", "no interface named '" + ifname + "'");
  }
  ifreq ifr;
  int rc = if_query(ifname, SIOCGIFHWADDR, &ifr);
  if (rc < 0) return fail(err, "ioctl(SIOCGIFHWADDR)", -rc);
  std::memcpy(mac_, ifr.ifr_hwaddr.sa_data, 6);
  rc = if_query(ifname, SIOCGIFMTU, &ifr);
  if (rc < 0) return fail(err, "ioctl(SIOCGIFMTU)", -rc);
  mtu_ = static_cast<uint32_t>(ifr.ifr_mtu);
  chunk_ = chunk_for_mtu(mtu_);
  if (chunk_ == 0) {
    return fail(err, "open", EMSGSIZE, "ERR_USTACK_MTU_TOO_LARGE",
                "MTU " + std::to_string(mtu_) + " of '" + ifname + "' is above what one 4 KiB UMEM chunk holds (3822); set it lower");
  }
  uint32_t queues = rx_queue_count(ifname);
  if (queues != 0 && opts.queue >= queues) {
    return fail(err, "open", EINVAL, "ERR_USTACK_QUEUE_OUT_OF_RANGE",
                "queue " + std::to_string(opts.queue) + " is out of range: '" + ifname + "' has " +
                    std::to_string(queues) + " receive queue" + (queues == 1 ? "" : "s"));
  }

  // The UMEM, and one page more for the last slot's view (see xdp.h).
  slot_count_ = opts.slot_count;
  size_t umem_bytes = static_cast<size_t>(slot_count_) * chunk_;
  map_bytes_ = umem_bytes + kPage;
  void* m = mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (m == MAP_FAILED) {
    map_bytes_ = 0;
    return fail(err, "mmap", errno);
  }
  umem_ = static_cast<uint8_t*>(m);
  madvise(umem_, map_bytes_, MADV_DONTFORK);  // a forked child never shares the kernel's buffers

  xsk_fd_ = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (xsk_fd_ < 0) {
    int e = errno;
    close();
    if (is_permission(e)) return permission(err, "socket(AF_XDP)", e);
    if (e == EAFNOSUPPORT) {
      return fail(err, "socket(AF_XDP)", e, "ERR_USTACK_XDP_UNSUPPORTED", "this kernel has no AF_XDP sockets (CONFIG_XDP_SOCKETS)");
    }
    return fail(err, "socket(AF_XDP)", e);
  }
  xdp_umem_reg reg;
  std::memset(&reg, 0, sizeof reg);
  reg.addr = reinterpret_cast<uintptr_t>(umem_);
  reg.len = umem_bytes;
  reg.chunk_size = chunk_;
  reg.headroom = 0;
  if (setsockopt(xsk_fd_, SOL_XDP, XDP_UMEM_REG, &reg, sizeof reg) < 0) {
    int e = errno;
    close();
    if (is_permission(e)) return permission(err, "setsockopt(XDP_UMEM_REG)", e);
    return fail(err, "setsockopt(XDP_UMEM_REG)", e);
  }
  uint32_t n = opts.ring_size;
  const int ring_opts[4] = {XDP_UMEM_FILL_RING, XDP_UMEM_COMPLETION_RING, XDP_RX_RING, XDP_TX_RING};
  for (int opt : ring_opts) {
    if (setsockopt(xsk_fd_, SOL_XDP, opt, &n, sizeof n) < 0) {
      int e = errno;
      close();
      return fail(err, "setsockopt(XDP ring size)", e);
    }
  }
  xdp_mmap_offsets off;
  socklen_t olen = sizeof off;
  if (getsockopt(xsk_fd_, SOL_XDP, XDP_MMAP_OFFSETS, &off, &olen) < 0) {
    int e = errno;
    close();
    return fail(err, "getsockopt(XDP_MMAP_OFFSETS)", e);
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
  for (int i = 0; i < 4; i++) {
    size_t len = specs[i].o->desc + n * specs[i].entry;
    void* r = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, xsk_fd_, static_cast<off_t>(specs[i].pgoff));
    if (r == MAP_FAILED) {
      int e = errno;
      close();
      return fail(err, "mmap(XDP ring)", e);
    }
    ring_maps_[i] = {r, len};
    auto* base = static_cast<uint8_t*>(r);
    mem[i].producer = reinterpret_cast<uint32_t*>(base + specs[i].o->producer);
    mem[i].consumer = reinterpret_cast<uint32_t*>(base + specs[i].o->consumer);
    mem[i].flags = reinterpret_cast<uint32_t*>(base + specs[i].o->flags);
    mem[i].entries = base + specs[i].o->desc;
    mem[i].size = n;
  }
  fill_.attach(mem[0]);
  comp_.attach(mem[1]);
  rx_.attach(mem[2]);
  tx_.attach(mem[3]);
  fill_target_ = n;

  if (opts.busy_poll) {
    // Where the kernel has them; the socket works the same without.
    int one = 1, usecs = 20, budget = 64;
    setsockopt(xsk_fd_, SOL_SOCKET, SO_PREFER_BUSY_POLL, &one, sizeof one);
    setsockopt(xsk_fd_, SOL_SOCKET, SO_BUSY_POLL, &usecs, sizeof usecs);
    setsockopt(xsk_fd_, SOL_SOCKET, SO_BUSY_POLL_BUDGET, &budget, sizeof budget);
  }

  // The maps and the program.
  uint32_t xsk_entries = queues > opts.queue ? queues : opts.queue + 1;
  xsks_map_fd_ = bpf::map_create(BPF_MAP_TYPE_XSKMAP, 4, 4, xsk_entries, "ustack_xsks");
  if (xsks_map_fd_ < 0) {
    int e = -xsks_map_fd_;
    close();
    if (is_permission(e)) return permission(err, "bpf(BPF_MAP_CREATE)", e);
    return fail(err, "bpf(BPF_MAP_CREATE)", e, "ERR_USTACK_XDP_UNSUPPORTED", "the kernel refused an XSKMAP");
  }
  addrs_map_fd_ = bpf::map_create(BPF_MAP_TYPE_HASH, 4, 4, kAddressMapEntries, "ustack_addrs");
  if (addrs_map_fd_ < 0) {
    int e = -addrs_map_fd_;
    close();
    return fail(err, "bpf(BPF_MAP_CREATE)", e);
  }
  counters_map_fd_ = bpf::map_create(BPF_MAP_TYPE_ARRAY, 4, 8, kCounterCount, "ustack_counts");
  if (counters_map_fd_ < 0) {
    int e = -counters_map_fd_;
    close();
    return fail(err, "bpf(BPF_MAP_CREATE)", e);
  }
  std::vector<bpf_insn> insns;
  std::string why;
  bool built;
  if (opts.shared) {
    if (opts.ephemeral_low == 0 || opts.ephemeral_low > opts.ephemeral_high) {
      close();
      return fail(err, "open", EINVAL, "ERR_OUT_OF_RANGE", "shared mode needs an ephemeral port range");
    }
    ports_map_fd_ = bpf::map_create(BPF_MAP_TYPE_HASH, 4, 4, kPortMapEntries, "ustack_ports");
    if (ports_map_fd_ < 0) {
      int e = -ports_map_fd_;
      close();
      return fail(err, "bpf(BPF_MAP_CREATE)", e);
    }
    SharedPorts sp;
    sp.ports_map_fd = ports_map_fd_;
    sp.ephemeral_low = opts.ephemeral_low;
    sp.ephemeral_high = opts.ephemeral_high;
    built = build_shared_program(addrs_map_fd_, xsks_map_fd_, counters_map_fd_, sp, &insns, &why);
  } else {
    built = build_redirect_program(addrs_map_fd_, xsks_map_fd_, counters_map_fd_, &insns, &why);
  }
  if (!built) {
    close();
    return fail(err, "build_redirect_program", EINVAL, "", why);
  }
  std::string log;
  prog_fd_ = bpf::prog_load_xdp(insns, kProgramName, &log);
  if (prog_fd_ < 0) {
    int e = -prog_fd_;
    close();
    if (is_permission(e)) return permission(err, "bpf(BPF_PROG_LOAD)", e);
    return fail(err, "bpf(BPF_PROG_LOAD)", e, "ERR_USTACK_XDP_UNSUPPORTED",
                "the kernel refused ustack's XDP program" + (log.empty() ? std::string() : ": " + log.substr(0, 2000)));
  }
  bpf::ProgInfo pi;
  if (bpf::prog_info(prog_fd_, &pi) == 0) prog_id_ = pi.id;
  rc = attach(err);
  if (rc < 0) {
    close();
    return rc;
  }
  return 0;
}

// BPF_LINK_CREATE in the asked mode; with mode auto, native first and
// generic where the driver has no native XDP.
int Device::attach(Error* err) {
  for (int attempt = 0; attempt < 2; attempt++) {
    bool native = opts_.mode != Mode::kGeneric;
    int rc = bpf::link_create_xdp(prog_fd_, ifindex_, native ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE);
    if (rc < 0 && native && opts_.mode == Mode::kAuto && rc == -EOPNOTSUPP) {
      native = false;
      rc = bpf::link_create_xdp(prog_fd_, ifindex_, XDP_FLAGS_SKB_MODE);
    }
    if (rc >= 0) {
      link_fd_ = rc;
      native_ = native;
      bpf::LinkInfo li;
      if (bpf::link_info(link_fd_, &li) == 0) link_id_ = li.id;
      return 0;
    }
    int e = -rc;
    if (is_permission(e)) return permission(err, "bpf(BPF_LINK_CREATE)", e);
    if (e == EOPNOTSUPP) {
      return fail(err, "bpf(BPF_LINK_CREATE)", e, "ERR_USTACK_XDP_UNSUPPORTED",
                  "'" + ifname_ + "' has no " + (opts_.mode == Mode::kNative ? "native (driver) " : "") +
                      "XDP support" + (opts_.mode == Mode::kNative ? "; mode=generic works on any interface" : ""));
    }
    if (e != EBUSY && e != EEXIST) return fail(err, "bpf(BPF_LINK_CREATE)", e);
    // Something is attached already: ours, left behind, is replaced once.
    rc = explain_busy(rc, err);
    if (rc != 0) return rc;
  }
  return fail(err, "bpf(BPF_LINK_CREATE)", EBUSY, "ERR_USTACK_XDP_BUSY",
              "an XDP program stays attached to '" + ifname_ + "' after ustack removed its stale one");
}

// Who holds the interface's XDP hook? Returns 0 after removing a stale
// program of ours (attach again), else the error to report.
int Device::explain_busy(int rc, Error* err) {
  netlink::XdpState st;
  int q = netlink::query_xdp(ifindex_, &st);
  if (q < 0) return fail(err, "bpf(BPF_LINK_CREATE)", -rc);
  struct Attached {
    uint32_t id;
    uint32_t mode_flag;
    const char* mode;
  };
  const Attached progs[3] = {{st.drv_prog_id, XDP_FLAGS_DRV_MODE, "native"},
                             {st.skb_prog_id, XDP_FLAGS_SKB_MODE, "generic"},
                             {st.hw_prog_id, XDP_FLAGS_HW_MODE, "offloaded"}};
  for (const Attached& a : progs) {
    if (a.id == 0) continue;
    int pfd = bpf::prog_get_fd_by_id(a.id);
    bpf::ProgInfo pi;
    if (pfd >= 0) bpf::prog_info(pfd, &pi);
    // Does a bpf_link hold it? A link lives only while some process holds its fd.
    uint32_t link_id = 0;
    for (uint32_t id = 0; bpf::link_get_next_id(id, &id) == 0;) {
      int lfd = bpf::link_get_fd_by_id(id);
      if (lfd < 0) continue;
      bpf::LinkInfo li;
      if (bpf::link_info(lfd, &li) == 0 && li.type == BPF_LINK_TYPE_XDP && li.ifindex == static_cast<uint32_t>(ifindex_)) link_id = li.id;
      ::close(lfd);
      if (link_id != 0) break;
    }
    bool ours = pi.name == kProgramName;
    std::string what = std::string(a.mode) + " XDP program '" + pi.name + "' (id " + std::to_string(a.id) + ")";
    if (ours && link_id == 0 && pfd >= 0) {
      // Ours, attached without a link by a process that is gone: replace it.
      int d = netlink::detach_xdp(ifindex_, pfd, a.mode_flag);
      ::close(pfd);
      if (d == 0) {
        stale_replaced_++;
        return 0;
      }
      return fail(err, "RTM_SETLINK(IFLA_XDP)", -d, "ERR_USTACK_XDP_BUSY",
                  "a stale " + what + " is attached to '" + ifname_ + "' and could not be removed");
    }
    if (pfd >= 0) ::close(pfd);
    if (ours) {
      return fail(err, "bpf(BPF_LINK_CREATE)", EBUSY, "ERR_USTACK_XDP_IN_USE",
                  "another ustack process drives '" + ifname_ + "' (" + what + ", bpf_link id " + std::to_string(link_id) + ")");
    }
    return fail(err, "bpf(BPF_LINK_CREATE)", EBUSY, "ERR_USTACK_XDP_BUSY",
                "another " + what + " is attached to '" + ifname_ + "'; ustack does not replace a program it did not load" +
                    (link_id != 0 ? " (a bpf_link, id " + std::to_string(link_id) + ", holds it: stop its owner)"
                                  : " (remove it with `ip link set dev " + ifname_ + " xdp off`)"));
  }
  return fail(err, "bpf(BPF_LINK_CREATE)", -rc, "ERR_USTACK_XDP_BUSY", "the XDP hook of '" + ifname_ + "' is busy");
}

int Device::start(uint32_t* free_stack, uint32_t capacity, Error* err) {
  if (!is_open()) return fail(err, "start", EBADF);
  if (bound_) return fail(err, "start", EBUSY, "ERR_USTACK_ALREADY_STARTED", "the device is started already");
  table_.reset(slot_count_);
  table_.attach(free_stack, capacity);
  refill();
  int rc = bind_socket(err);
  if (rc < 0) return rc;
  uint32_t key = opts_.queue;
  uint32_t fd = static_cast<uint32_t>(xsk_fd_);
  rc = bpf::map_update(xsks_map_fd_, &key, &fd, BPF_ANY);
  if (rc < 0) return fail(err, "bpf(BPF_MAP_UPDATE_ELEM)", -rc);
  return 0;
}

int Device::bind_socket(Error* err) {
  auto try_bind = [this](uint16_t mode) {
    sockaddr_xdp sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sxdp_family = AF_XDP;
    sa.sxdp_ifindex = static_cast<uint32_t>(ifindex_);
    sa.sxdp_queue_id = opts_.queue;
    sa.sxdp_flags = static_cast<uint16_t>(mode | XDP_USE_NEED_WAKEUP);
    return ::bind(xsk_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0 ? -errno : 0;
  };
  // Zero-copy needs the driver's support and native mode.
  bool want_zc = opts_.zerocopy == ZeroCopy::kOn || (opts_.zerocopy == ZeroCopy::kAuto && native_);
  int rc = want_zc ? try_bind(XDP_ZEROCOPY) : try_bind(XDP_COPY);
  // EBUSY: the queue still has a socket. With our program attached (no
  // other process's can be), that is a closed socket of ours, or of a
  // process that just died, whose buffer pool the kernel releases from a
  // work queue a moment later: wait for it, briefly.
  for (int i = 0; rc == -EBUSY && i < kBindBusyRetries; i++) {
    usleep(kBindBusyWaitUs);
    rc = want_zc ? try_bind(XDP_ZEROCOPY) : try_bind(XDP_COPY);
  }
  if (rc < 0 && want_zc && opts_.zerocopy == ZeroCopy::kAuto && (rc == -EOPNOTSUPP || rc == -EINVAL)) {
    rc = try_bind(XDP_COPY);
  }
  if (rc < 0) {
    int e = -rc;
    if (opts_.zerocopy == ZeroCopy::kOn && (e == EOPNOTSUPP || e == EINVAL)) {
      return fail(err, "bind(AF_XDP)", e, "ERR_USTACK_XDP_UNSUPPORTED",
                  "'" + ifname_ + "' has no zero-copy AF_XDP support" + (native_ ? "" : " (and zero-copy needs mode=native)") +
                      "; use zerocopy=auto or off");
    }
    if (e == EINVAL && rx_queue_count(ifname_) == 0) {
      return fail(err, "bind(AF_XDP)", e, "ERR_USTACK_QUEUE_OUT_OF_RANGE",
                  "queue " + std::to_string(opts_.queue) + " is not a receive queue of '" + ifname_ + "'");
    }
    if (e == EBUSY) {
      return fail(err, "bind(AF_XDP)", e, "ERR_USTACK_XDP_IN_USE",
                  "queue " + std::to_string(opts_.queue) + " of '" + ifname_ + "' already has an AF_XDP socket");
    }
    return fail(err, "bind(AF_XDP)", e);
  }
  xdp_options xo;
  socklen_t len = sizeof xo;
  zerocopy_ = getsockopt(xsk_fd_, SOL_XDP, XDP_OPTIONS, &xo, &len) == 0 && (xo.flags & XDP_OPTIONS_ZEROCOPY) != 0;
  bound_ = true;
  return 0;
}

void Device::close() {
  // The link first: from here on no frame is redirected to the socket.
  close_fd(&link_fd_);
  close_fd(&prog_fd_);
  close_fd(&xsks_map_fd_);
  close_fd(&addrs_map_fd_);
  close_fd(&counters_map_fd_);
  close_fd(&ports_map_fd_);
  for (Mapped& m : ring_maps_) {
    if (m.at != nullptr) munmap(m.at, m.len);
    m = Mapped{};
  }
  fill_ = ProducerRing<uint64_t>();
  comp_ = ConsumerRing<uint64_t>();
  rx_ = ConsumerRing<xdp_desc>();
  tx_ = ProducerRing<xdp_desc>();
  close_fd(&xsk_fd_);
  table_.detach();
  bound_ = false;
  if (umem_ != nullptr) {
    // JavaScript may still view the pool: its addresses stay mapped (zero pages) while it does.
    dma::unmap_or_retire(umem_, map_bytes_);
    umem_ = nullptr;
    map_bytes_ = 0;
  }
}

namespace {

// Makes the set of 4-byte keys of a hash map exactly keys[0..n): removes
// what is no longer there, then adds the rest (updates are idempotent).
int replace_keys(int map_fd, uint32_t capacity, const uint32_t* keys, uint32_t n) {
  if (map_fd < 0) return -EBADF;
  if (n > capacity) return -E2BIG;
  std::vector<uint32_t> stale;
  uint32_t key = 0, next = 0;
  const void* prev = nullptr;
  while (bpf::map_next_key(map_fd, prev, &next) == 0) {
    bool keep = false;
    for (uint32_t i = 0; i < n; i++) keep = keep || keys[i] == next;
    if (!keep) stale.push_back(next);
    key = next;
    prev = &key;
  }
  for (uint32_t s : stale) bpf::map_delete(map_fd, &s);
  uint32_t one = 1;
  for (uint32_t i = 0; i < n; i++) {
    int rc = bpf::map_update(map_fd, &keys[i], &one, BPF_ANY);
    if (rc < 0) return rc;
  }
  return 0;
}

}  // namespace

int Device::set_addresses(const uint32_t* addrs, uint32_t n) {
  return replace_keys(addrs_map_fd_, kAddressMapEntries, addrs, n);
}

int Device::set_ports(const uint32_t* keys, uint32_t n) { return replace_keys(ports_map_fd_, kPortMapEntries, keys, n); }

int Device::neighbor(uint32_t ip, uint8_t mac[6]) {
  if (!is_open()) return -EBADF;
  int rc = netlink::neighbor_get(ifindex_, ip, mac);
  if (rc == 0) return 0;
  int r2 = netlink::neighbor_resolve(ifindex_, ip);
  return r2 < 0 ? r2 : rc;
}

// Keeps fill_target_ slots with the kernel for receiving.
void Device::refill() {
  if (!fill_.attached() || !table_.attached()) return;
  if (in_kernel_rx_ >= fill_target_) return;
  uint32_t want = fill_target_ - in_kernel_rx_;
  uint32_t room = fill_.free(want);
  if (room < want) want = room;
  uint32_t k = 0;
  for (; k < want; k++) {
    uint32_t s = table_.pop(slots::State::kRx);
    if (s == slots::kNoSlot) {
      c_.fill_empty++;
      break;
    }
    fill_.at(k) = static_cast<uint64_t>(s) * chunk_;
  }
  if (k == 0) return;
  fill_.submit(k);
  in_kernel_rx_ += k;
  if (fill_.needs_wakeup()) {
    c_.fill_kicks++;
    recvfrom(xsk_fd_, nullptr, 0, MSG_DONTWAIT, nullptr, nullptr);
  }
}

uint32_t Device::rx_burst(uint32_t* out_slots, uint32_t* out_lens, uint32_t max) {
  if (!bound_) return 0;
  table_.sync();
  uint32_t n = rx_.available(max);
  uint32_t k = 0;
  for (uint32_t i = 0; i < n; i++) {
    const xdp_desc& d = rx_.at(i);
    uint64_t addr = d.addr;
    uint32_t len = d.len;
    uint64_t slot = addr / chunk_;
    uint32_t off = static_cast<uint32_t>(addr % chunk_);
    if (slot >= slot_count_ || table_.state(static_cast<uint32_t>(slot)) != slots::State::kRx) {
      c_.rx_bad_desc++;  // not a slot we gave the kernel: nothing to give back
      continue;
    }
    uint32_t s = static_cast<uint32_t>(slot);
    in_kernel_rx_--;
    if (len < 14 || len > frame_capacity(chunk_) || off + static_cast<uint64_t>(len) > chunk_) {
      c_.rx_bad_desc++;
      table_.push(s);  // kRx -> free
      continue;
    }
    uint8_t* frame = umem_ + static_cast<size_t>(s) * chunk_;
    if (off != kHeadroom) {
      std::memmove(frame + kHeadroom, frame + off, len);
      c_.rx_moved++;
    }
    table_.rx_to_js(s);
    out_slots[k] = s;
    out_lens[k] = len;
    k++;
    c_.rx_bytes += len;
  }
  if (n > 0) rx_.release(n);
  c_.rx_frames += k;
  refill();
  if (n == 0) {
    if (opts_.busy_poll) {
      c_.busy_polls++;
      recvfrom(xsk_fd_, nullptr, 0, MSG_DONTWAIT, nullptr, nullptr);
    }
    // Frames left in the TX ring by a kick the kernel cut short.
    if (tx_.outstanding() > 0 && tx_.needs_wakeup()) kick_tx();
  }
  return k;
}

uint32_t Device::tx_burst(const uint32_t* slot_ids, const uint32_t* lens, uint32_t n, slots::Refusal* refusal,
                          uint32_t* refused_slot) {
  *refusal = slots::Refusal::kNone;
  if (!bound_) return 0;
  table_.sync();
  reclaim();
  uint32_t cap = frame_capacity(chunk_);
  for (uint32_t i = 0; i < n; i++) {
    slots::Refusal r = lens[i] < slots::kMinFrame || lens[i] > cap ? slots::Refusal::kLength : table_.claim_tx(slot_ids[i]);
    if (r != slots::Refusal::kNone) {
      for (uint32_t j = 0; j < i; j++) table_.unclaim_tx(slot_ids[j]);
      *refusal = r;
      *refused_slot = slot_ids[i];
      return 0;
    }
  }
  uint32_t k = tx_.free(n);
  if (k > n) k = n;
  for (uint32_t i = 0; i < k; i++) {
    xdp_desc& d = tx_.at(i);
    d.addr = static_cast<uint64_t>(slot_ids[i]) * chunk_ + kHeadroom;
    d.len = lens[i];
    d.options = 0;
    c_.tx_bytes += lens[i];
  }
  for (uint32_t i = k; i < n; i++) table_.unclaim_tx(slot_ids[i]);
  c_.tx_ring_full += n - k;
  if (k > 0) {
    tx_.submit(k);
    c_.tx_frames += k;
  }
  if (tx_.outstanding() > 0 && tx_.needs_wakeup()) kick_tx();
  return k;
}

// sendto until the kernel has taken the TX ring, bounded: in copy mode one
// call sends at most 32 frames and says EAGAIN while more wait.
void Device::kick_tx() {
  uint32_t limit = tx_.outstanding() / 32 + 2;
  for (uint32_t i = 0; i < limit && tx_.outstanding() > 0; i++) {
    c_.tx_kicks++;
    if (sendto(xsk_fd_, nullptr, 0, MSG_DONTWAIT, nullptr, 0) >= 0) continue;
    int e = errno;
    if (e == EAGAIN) {
      c_.tx_kick_again++;
      reclaim();  // a full completion ring also says EAGAIN
      continue;
    }
    if (e == EBUSY) {
      c_.tx_kick_busy++;
      continue;
    }
    c_.tx_kick_errors++;
    c_.last_tx_errno = e;
    break;
  }
}

bool Device::flush_tx() {
  if (!bound_ || tx_.outstanding() == 0) return false;
  if (tx_.needs_wakeup()) kick_tx();
  return tx_.outstanding() > 0;
}

uint32_t Device::reclaim() {
  if (!bound_) return 0;
  uint32_t n = comp_.available(0xffffffffu);
  for (uint32_t i = 0; i < n; i++) {
    uint64_t addr = comp_.at(i);
    uint64_t slot = addr / chunk_;
    if (slot >= slot_count_ || table_.state(static_cast<uint32_t>(slot)) != slots::State::kTx) {
      c_.bad_completions++;
      continue;
    }
    table_.push(static_cast<uint32_t>(slot));
  }
  if (n > 0) comp_.release(n);
  c_.completions += n;
  // Slots back on the stack may be what the fill ring was waiting for.
  if (n > 0 && in_kernel_rx_ < fill_target_ / 2) refill();
  return n;
}

uint64_t Device::program_counter(uint32_t which) const {
  uint64_t v = 0;
  if (counters_map_fd_ < 0 || bpf::map_lookup(counters_map_fd_, &which, &v) < 0) return 0;
  return v;
}

xdp_statistics Device::kernel_stats() const {
  xdp_statistics s;
  std::memset(&s, 0, sizeof s);
  if (xsk_fd_ < 0) return s;
  socklen_t len = sizeof s;
  if (getsockopt(xsk_fd_, SOL_XDP, XDP_STATISTICS, &s, &len) < 0) std::memset(&s, 0, sizeof s);
  return s;
}

}  // namespace ustack::xdp
