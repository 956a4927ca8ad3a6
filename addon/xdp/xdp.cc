#include "xdp/xdp.h"

#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "dma/view_hold.h"
#include "xdp/bpf_sys.h"
#include "xdp/hook.h"
#include "xdp/netlink_xdp.h"
#include "xdp/program.h"
#include "xdp/permission.h"
#include "xdp/queues.h"

namespace ustack::xdp {

namespace {

constexpr uint32_t kAddressMapEntries = 64;
constexpr uint32_t kPortMapEntries = 1024;
constexpr int kBindBusyRetries = 200;       // 200 x 5 ms: at most a second
constexpr useconds_t kBindBusyWaitUs = 5000;
constexpr uint32_t kPage = 4096;

bool power_of_two(uint32_t v) { return v != 0 && (v & (v - 1)) == 0; }


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
  if (!opts.all_queues && queues != 0 && opts.queue >= queues) {
    return fail(err, "open", EINVAL, "ERR_USTACK_QUEUE_OUT_OF_RANGE",
                "queue " + std::to_string(opts.queue) + " is out of range: '" + ifname + "' has " +
                    std::to_string(queues) + " receive queue" + (queues == 1 ? "" : "s"));
  }
  if (opts.all_queues && queues == 0) {
    return fail(err, "open", EINVAL, "ERR_USTACK_QUEUE_OUT_OF_RANGE",
                "queue=all: the receive queues of '" + ifname + "' cannot be read from /sys/class/net");
  }
  uint32_t nsockets = opts.all_queues ? queues : 1;
  // Half the pool waits in the fill rings; the rest is the stack's.
  fill_target_ = std::min(opts.ring_size, opts.slot_count / 2 / nsockets);
  if (fill_target_ < 64) {
    return fail(err, "open", EINVAL, "ERR_OUT_OF_RANGE",
                "slot count " + std::to_string(opts.slot_count) + " is too small for " + std::to_string(nsockets) + " queues");
  }

  // The UMEM, and one page more for the last slot's view (see xdp.h).
  slot_count_ = opts.slot_count;
  size_t umem_bytes = static_cast<size_t>(slot_count_) * chunk_;
  map_bytes_ = umem_bytes + kPage;
  void* m = MAP_FAILED;
  if (opts.umem_fd >= 0) {
    // A shard owner's region: the caller's file, shared with its workers.
    struct stat st;
    if (fstat(opts.umem_fd, &st) < 0 || opts.umem_offset % kPage != 0 ||
        opts.umem_offset + map_bytes_ > static_cast<uint64_t>(st.st_size)) {
      map_bytes_ = 0;
      return fail(err, "mmap", EINVAL, "ERR_OUT_OF_RANGE", "the UMEM does not fit the file it is to be mapped from");
    }
    m = mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, opts.umem_fd,
             static_cast<off_t>(opts.umem_offset));
  } else {
    m = mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  }
  if (m == MAP_FAILED) {
    map_bytes_ = 0;
    return fail(err, "mmap", errno);
  }
  umem_ = static_cast<uint8_t*>(m);
  madvise(umem_, map_bytes_, MADV_DONTFORK);  // a forked child never shares the kernel's buffers

  // The sockets: the first registers the UMEM and transmits; the others share it and receive.
  xsks_.resize(nsockets);
  for (uint32_t i = 0; i < nsockets; i++) {
    Xsk& x = xsks_[i];
    rc = x.create(err);
    if (rc == 0 && i == 0) rc = x.register_umem(umem_, umem_bytes, chunk_, err);
    if (rc == 0) rc = x.map_rings(opts.ring_size, i == 0, err);
    if (rc < 0) {
      close();
      return rc;
    }
    if (opts.busy_poll) x.prefer_busy_poll();
  }
  if (nsockets > 1) {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) {
      int e = errno;
      close();
      return fail(err, "epoll_create1", e);
    }
    for (Xsk& x : xsks_) {
      epoll_event ev;
      std::memset(&ev, 0, sizeof ev);
      ev.events = EPOLLIN;
      ev.data.fd = x.fd();
      if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, x.fd(), &ev) < 0) {
        int e = errno;
        close();
        return fail(err, "epoll_ctl", e);
      }
    }
  }

  // The maps and the program.
  uint32_t xsk_entries = std::max(queues, opts.queue + 1);
  xsks_map_fd_ = bpf::map_create(BPF_MAP_TYPE_XSKMAP, 4, 4, xsk_entries, "ustack_xsks");
  if (xsks_map_fd_ < 0) {
    int e = -xsks_map_fd_;
    close();
    if (is_permission(e)) return permission_error(err, "bpf(BPF_MAP_CREATE)", e);
    return fail(err, "bpf(BPF_MAP_CREATE)", e, "ERR_USTACK_XDP_UNSUPPORTED", "the kernel refused an XSKMAP");
  }
  addrs_map_fd_ = bpf::map_create(BPF_MAP_TYPE_HASH, 4, 4, kAddressMapEntries, "ustack_addrs");
  if (addrs_map_fd_ < 0) {
    int e = -addrs_map_fd_;
    close();
    return fail(err, "bpf(BPF_MAP_CREATE)", e);
  }
  addrs6_map_fd_ = bpf::map_create(BPF_MAP_TYPE_HASH, 16, 4, kAddressMapEntries, "ustack_addrs6");
  if (addrs6_map_fd_ < 0) {
    int e = -addrs6_map_fd_;
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
    built = build_redirect_program(addrs_map_fd_, addrs6_map_fd_, xsks_map_fd_, counters_map_fd_, &insns, &why);
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
    if (is_permission(e)) return permission_error(err, "bpf(BPF_PROG_LOAD)", e);
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

// The program on the interface's XDP hook (hook.h), in the asked mode.
int Device::attach(Error* err) {
  HookRequest req;
  req.prog_fd = prog_fd_;
  req.ifindex = ifindex_;
  req.ifname = ifname_;
  req.native = opts_.mode != Mode::kGeneric;
  req.generic_fallback = opts_.mode == Mode::kAuto;
  Hook h;
  int rc = attach_to_hook(req, &h, err);
  if (rc < 0) return rc;
  link_fd_ = h.link_fd;
  link_id_ = h.link_id;
  native_ = h.native;
  stale_replaced_ = h.stale_replaced;
  return 0;
}

int Device::start(uint32_t* free_stack, uint32_t capacity, Error* err) {
  if (!is_open()) return fail(err, "start", EBADF);
  if (bound_) return fail(err, "start", EBUSY, "ERR_USTACK_ALREADY_STARTED", "the device is started already");
  table_.reset(slot_count_);
  table_.attach(free_stack, capacity);
  for (Xsk& x : xsks_) refill(x);
  int rc = bind_sockets(err);
  if (rc < 0) return rc;
  for (Xsk& x : xsks_) {
    uint32_t key = x.queue();
    uint32_t fd = static_cast<uint32_t>(x.fd());
    rc = bpf::map_update(xsks_map_fd_, &key, &fd, BPF_ANY);
    if (rc < 0) return fail(err, "bpf(BPF_MAP_UPDATE_ELEM)", -rc);
  }
  return 0;
}

int Device::bind_sockets(Error* err) {
  Xsk& first = xsks_[0];
  uint32_t first_queue = opts_.all_queues ? 0 : opts_.queue;
  auto bind_first = [&](uint16_t mode) {
    int rc = first.bind(ifindex_, first_queue, mode, -1);
    // EBUSY: the queue still has a socket. With our program attached (no
    // other process's can be), that is a closed socket of ours, or of a
    // process that just died, whose buffer pool the kernel releases from a
    // work queue a moment later: wait for it, briefly.
    for (int i = 0; rc == -EBUSY && i < kBindBusyRetries; i++) {
      usleep(kBindBusyWaitUs);
      rc = first.bind(ifindex_, first_queue, mode, -1);
    }
    return rc;
  };
  // Zero-copy needs the driver's support and native mode.
  bool want_zc = opts_.zerocopy == ZeroCopy::kOn || (opts_.zerocopy == ZeroCopy::kAuto && native_);
  int rc = bind_first(want_zc ? XDP_ZEROCOPY : XDP_COPY);
  if (rc < 0 && want_zc && opts_.zerocopy == ZeroCopy::kAuto && (rc == -EOPNOTSUPP || rc == -EINVAL)) {
    rc = bind_first(XDP_COPY);
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
                  "queue " + std::to_string(first_queue) + " is not a receive queue of '" + ifname_ + "'");
    }
    if (e == EBUSY) {
      return fail(err, "bind(AF_XDP)", e, "ERR_USTACK_XDP_IN_USE",
                  "queue " + std::to_string(first_queue) + " of '" + ifname_ + "' already has an AF_XDP socket");
    }
    return fail(err, "bind(AF_XDP)", e);
  }
  zerocopy_ = first.zerocopy();
  // The other queues share the first socket's UMEM (and its copy or zero-copy mode).
  for (uint32_t i = 1; i < xsks_.size(); i++) {
    int r = xsks_[i].bind(ifindex_, i, 0, first.fd());
    for (int k = 0; r == -EBUSY && k < kBindBusyRetries; k++) {
      usleep(kBindBusyWaitUs);
      r = xsks_[i].bind(ifindex_, i, 0, first.fd());
    }
    if (r < 0) return fail(err, "bind(AF_XDP, XDP_SHARED_UMEM)", -r);
  }
  bound_ = true;
  return 0;
}

void Device::close() {
  // The link first: from here on no frame is redirected to the sockets.
  close_fd(&link_fd_);
  close_fd(&prog_fd_);
  close_fd(&xsks_map_fd_);
  close_fd(&addrs_map_fd_);
  close_fd(&addrs6_map_fd_);
  close_fd(&mc_fd_);
  mc_groups_.clear();
  close_fd(&counters_map_fd_);
  close_fd(&ports_map_fd_);
  close_fd(&epoll_fd_);
  xsks_.clear();
  table_.detach();
  completed_.clear();
  bound_ = false;
  if (umem_ != nullptr) {
    // JavaScript may still view the pool: its addresses stay mapped (zero pages) while it does.
    dma::unmap_or_retire(umem_, map_bytes_);
    umem_ = nullptr;
    map_bytes_ = 0;
  }
}

namespace {

// Makes the set of keys (key_size bytes each) of a hash map exactly
// keys[0..n): removes what is no longer there, then adds the rest (updates
// are idempotent).
int replace_keys(int map_fd, uint32_t capacity, const uint8_t* keys, uint32_t key_size, uint32_t n) {
  if (map_fd < 0) return -EBADF;
  if (n > capacity) return -E2BIG;
  std::vector<std::vector<uint8_t>> stale;
  std::vector<uint8_t> key(key_size), next(key_size);
  const void* prev = nullptr;
  while (bpf::map_next_key(map_fd, prev, next.data()) == 0) {
    bool keep = false;
    for (uint32_t i = 0; i < n && !keep; i++) keep = std::memcmp(keys + i * key_size, next.data(), key_size) == 0;
    if (!keep) stale.push_back(next);
    key = next;
    prev = key.data();
  }
  for (const auto& s : stale) bpf::map_delete(map_fd, s.data());
  uint32_t one = 1;
  for (uint32_t i = 0; i < n; i++) {
    int rc = bpf::map_update(map_fd, keys + i * key_size, &one, BPF_ANY);
    if (rc < 0) return rc;
  }
  return 0;
}

}  // namespace

int Device::set_addresses(const uint32_t* addrs, uint32_t n) {
  return replace_keys(addrs_map_fd_, kAddressMapEntries, reinterpret_cast<const uint8_t*>(addrs), 4, n);
}

int Device::set_addresses6(const uint8_t* addrs, uint32_t n) {
  return replace_keys(addrs6_map_fd_, kAddressMapEntries, addrs, 16, n);
}

int Device::set_multicast(const uint8_t* macs, uint32_t n) {
  if (!is_open()) return -EBADF;
  if (mc_fd_ < 0) {
    // Protocol 0: the socket receives nothing; it only holds memberships.
    mc_fd_ = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (mc_fd_ < 0) return -errno;
  }
  auto membership = [&](const uint8_t* mac, int op) {
    packet_mreq mr;
    std::memset(&mr, 0, sizeof mr);
    mr.mr_ifindex = ifindex_;
    mr.mr_type = PACKET_MR_MULTICAST;
    mr.mr_alen = 6;
    std::memcpy(mr.mr_address, mac, 6);
    return setsockopt(mc_fd_, SOL_PACKET, op, &mr, sizeof mr) < 0 ? -errno : 0;
  };
  std::vector<std::array<uint8_t, 6>> want;
  for (uint32_t i = 0; i < n; i++) {
    std::array<uint8_t, 6> m;
    std::memcpy(m.data(), macs + 6 * i, 6);
    if (std::find(want.begin(), want.end(), m) == want.end()) want.push_back(m);
  }
  for (auto it = mc_groups_.begin(); it != mc_groups_.end();) {
    if (std::find(want.begin(), want.end(), *it) != want.end()) {
      ++it;
      continue;
    }
    membership(it->data(), PACKET_DROP_MEMBERSHIP);
    it = mc_groups_.erase(it);
  }
  for (const auto& m : want) {
    if (std::find(mc_groups_.begin(), mc_groups_.end(), m) != mc_groups_.end()) continue;
    int rc = membership(m.data(), PACKET_ADD_MEMBERSHIP);
    if (rc < 0) return rc;
    mc_groups_.push_back(m);
  }
  return 0;
}

int Device::set_ports(const uint32_t* keys, uint32_t n) {
  return replace_keys(ports_map_fd_, kPortMapEntries, reinterpret_cast<const uint8_t*>(keys), 4, n);
}

int Device::neighbor(uint32_t ip, uint8_t mac[6]) {
  if (!is_open()) return -EBADF;
  int rc = netlink::neighbor_get(ifindex_, ip, mac);
  if (rc == 0) return 0;
  int r2 = netlink::neighbor_resolve(ifindex_, ip);
  return r2 < 0 ? r2 : rc;
}

// Keeps fill_target_ slots with the kernel for receiving on x's queue.
void Device::refill(Xsk& x) {
  if (!x.fill.attached() || !table_.attached()) return;
  if (x.in_kernel_rx >= fill_target_) return;
  uint32_t want = fill_target_ - x.in_kernel_rx;
  uint32_t room = x.fill.free(want);
  if (room < want) want = room;
  uint32_t k = 0;
  for (; k < want; k++) {
    uint32_t s = table_.pop(slots::State::kRx);
    if (s == slots::kNoSlot) {
      c_.fill_empty++;
      break;
    }
    x.fill.at(k) = static_cast<uint64_t>(s) * chunk_;
  }
  if (k == 0) return;
  x.fill.submit(k);
  x.in_kernel_rx += k;
  if (x.fill.needs_wakeup()) {
    c_.fill_kicks++;
    recvfrom(x.fd(), nullptr, 0, MSG_DONTWAIT, nullptr, nullptr);
  }
}

bool Device::rx_pending() const {
  for (const Xsk& x : xsks_) {
    if (x.rx.attached() && !x.rx.empty_now()) return true;
  }
  return false;
}

uint32_t Device::rx_burst(uint32_t* out_slots, uint32_t* out_lens, uint32_t max) {
  if (!bound_) return 0;
  table_.sync();
  // Round robin over the sockets, so no queue waits behind a busy one.
  uint32_t k = 0;
  uint32_t n = static_cast<uint32_t>(xsks_.size());
  for (uint32_t i = 0; i < n && k < max; i++) {
    Xsk& x = xsks_[(rx_next_ + i) % n];
    k += rx_from(x, out_slots + k, out_lens + k, max - k);
  }
  rx_next_ = n > 1 ? (rx_next_ + 1) % n : 0;
  c_.rx_frames += k;
  if (k == 0) {
    if (opts_.busy_poll) {
      for (Xsk& x : xsks_) {
        c_.busy_polls++;
        recvfrom(x.fd(), nullptr, 0, MSG_DONTWAIT, nullptr, nullptr);
      }
    }
    // Frames left in the TX ring by a kick the kernel cut short.
    Xsk& t = xsks_[0];
    if (t.tx.outstanding() > 0 && t.tx.needs_wakeup()) kick_tx();
  }
  return k;
}

// One socket's share of a receive burst; refills its fill ring.
uint32_t Device::rx_from(Xsk& x, uint32_t* out_slots, uint32_t* out_lens, uint32_t max) {
  uint32_t n = x.rx.available(max);
  uint32_t k = 0;
  for (uint32_t i = 0; i < n; i++) {
    const xdp_desc& d = x.rx.at(i);
    uint64_t addr = d.addr;
    uint32_t len = d.len;
    uint64_t slot = addr / chunk_;
    uint32_t off = static_cast<uint32_t>(addr % chunk_);
    if (slot >= slot_count_ || table_.state(static_cast<uint32_t>(slot)) != slots::State::kRx) {
      c_.rx_bad_desc++;  // not a slot we gave the kernel: nothing to give back
      continue;
    }
    uint32_t s = static_cast<uint32_t>(slot);
    if (x.in_kernel_rx > 0) x.in_kernel_rx--;
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
  if (n > 0) x.rx.release(n);
  refill(x);
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
  ProducerRing<xdp_desc>& tx = xsks_[0].tx;
  uint32_t k = tx.free(n);
  if (k > n) k = n;
  for (uint32_t i = 0; i < k; i++) {
    xdp_desc& d = tx.at(i);
    d.addr = static_cast<uint64_t>(slot_ids[i]) * chunk_ + kHeadroom;
    d.len = lens[i];
    d.options = 0;
    c_.tx_bytes += lens[i];
  }
  for (uint32_t i = k; i < n; i++) table_.unclaim_tx(slot_ids[i]);
  c_.tx_ring_full += n - k;
  if (k > 0) {
    tx.submit(k);
    c_.tx_frames += k;
  }
  if (tx.outstanding() > 0 && tx.needs_wakeup()) kick_tx();
  return k;
}

// sendto until the kernel has taken the TX ring, bounded: in copy mode one
// call sends at most 32 frames and says EAGAIN while more wait.
void Device::kick_tx() {
  Xsk& x = xsks_[0];
  uint32_t limit = x.tx.outstanding() / 32 + 2;
  for (uint32_t i = 0; i < limit && x.tx.outstanding() > 0; i++) {
    c_.tx_kicks++;
    if (sendto(x.fd(), nullptr, 0, MSG_DONTWAIT, nullptr, 0) >= 0) continue;
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
  if (!bound_) return false;
  Xsk& x = xsks_[0];
  if (x.tx.outstanding() == 0) return false;
  if (x.tx.needs_wakeup()) kick_tx();
  return x.tx.outstanding() > 0;
}

uint32_t Device::take_completed(uint32_t* out, uint32_t max) {
  uint32_t n = completed_.size() < max ? static_cast<uint32_t>(completed_.size()) : max;
  for (uint32_t i = 0; i < n; i++) out[i] = completed_[i];
  completed_.erase(completed_.begin(), completed_.begin() + n);
  return n;
}

// The transmitting socket's completions (the others never transmit).
uint32_t Device::reclaim() {
  if (!bound_) return 0;
  Xsk& x = xsks_[0];
  uint32_t n = x.comp.available(0xffffffffu);
  for (uint32_t i = 0; i < n; i++) {
    uint64_t addr = x.comp.at(i);
    uint64_t slot = addr / chunk_;
    if (slot >= slot_count_ || table_.state(static_cast<uint32_t>(slot)) != slots::State::kTx) {
      c_.bad_completions++;
      continue;
    }
    if (opts_.foreign_from != 0 && slot >= opts_.foreign_from) {
      table_.unclaim_tx(static_cast<uint32_t>(slot));  // kTx -> outside the driver, to its owner
      completed_.push_back(static_cast<uint32_t>(slot));
      continue;
    }
    table_.push(static_cast<uint32_t>(slot));
  }
  if (n > 0) x.comp.release(n);
  c_.completions += n;
  // Slots back on the stack may be what the fill rings were waiting for.
  if (n > 0) {
    for (Xsk& r : xsks_) {
      if (r.in_kernel_rx < fill_target_ / 2) refill(r);
    }
  }
  return n;
}

uint64_t Device::program_counter(uint32_t which) const {
  uint64_t v = 0;
  if (counters_map_fd_ < 0 || bpf::map_lookup(counters_map_fd_, &which, &v) < 0) return 0;
  return v;
}

xdp_statistics Device::kernel_stats() const {
  xdp_statistics sum;
  std::memset(&sum, 0, sizeof sum);
  for (const Xsk& x : xsks_) {
    xdp_statistics s = x.statistics();
    sum.rx_dropped += s.rx_dropped;
    sum.rx_invalid_descs += s.rx_invalid_descs;
    sum.tx_invalid_descs += s.tx_invalid_descs;
    sum.rx_ring_full += s.rx_ring_full;
    sum.rx_fill_ring_empty_descs += s.rx_fill_ring_empty_descs;
    sum.tx_ring_empty_descs += s.tx_ring_empty_descs;
  }
  return sum;
}

}  // namespace ustack::xdp
