#include "xdp/netlink_xdp.h"

#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ustack::xdp::netlink {

namespace {

constexpr size_t kBuf = 32 * 1024;
constexpr time_t kReplyTimeoutSeconds = 5;

// A request being built: header, ifinfomsg, then attributes.
struct Request {
  alignas(NLMSG_ALIGNTO) unsigned char buf[512];
  nlmsghdr* hdr() { return reinterpret_cast<nlmsghdr*>(buf); }

  void start_neigh(uint16_t type, uint16_t flags, int ifindex, uint8_t ndm_flags, uint16_t state) {
    std::memset(buf, 0, sizeof buf);
    nlmsghdr* h = hdr();
    h->nlmsg_len = NLMSG_LENGTH(sizeof(ndmsg));
    h->nlmsg_type = type;
    h->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | flags);
    h->nlmsg_seq = 1;
    auto* nd = static_cast<ndmsg*>(NLMSG_DATA(h));
    nd->ndm_family = AF_INET;
    nd->ndm_ifindex = ifindex;
    nd->ndm_flags = ndm_flags;
    nd->ndm_state = state;
  }
  void start(uint16_t type, uint16_t flags, int ifindex) {
    std::memset(buf, 0, sizeof buf);
    nlmsghdr* h = hdr();
    h->nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
    h->nlmsg_type = type;
    h->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | flags);
    h->nlmsg_seq = 1;
    auto* ifi = static_cast<ifinfomsg*>(NLMSG_DATA(h));
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = ifindex;
  }
  rtattr* put(uint16_t type, const void* data, size_t len) {
    nlmsghdr* h = hdr();
    auto* rta = reinterpret_cast<rtattr*>(buf + NLMSG_ALIGN(h->nlmsg_len));
    rta->rta_type = type;
    rta->rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
    if (len > 0) std::memcpy(RTA_DATA(rta), data, len);
    h->nlmsg_len = static_cast<uint32_t>(NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(rta->rta_len));
    return rta;
  }
  void end_nest(rtattr* nest) {
    nest->rta_len = static_cast<uint16_t>(buf + hdr()->nlmsg_len - reinterpret_cast<unsigned char*>(nest));
  }
};

int open_socket() {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -errno;
  // The kernel answers at once; a reply that never comes ends the wait
  // (recv says EAGAIN) rather than hanging the stack's open() or ARP.
  timeval limit{kReplyTimeoutSeconds, 0};
  sockaddr_nl sa;
  std::memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit) < 0 ||
      bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

// Sends the request and reads replies until the answer or an error: for a
// query, `on_answer` sees the message of type `answer` (RTM_NEWLINK, RTM_NEWNEIGH).
template <typename OnAnswer>
int transact(Request* req, OnAnswer on_answer, uint16_t answer = RTM_NEWLINK) {
  const size_t header_len = answer == RTM_NEWNEIGH ? sizeof(ndmsg) : sizeof(ifinfomsg);
  int fd = open_socket();
  if (fd < 0) return fd;
  sockaddr_nl kernel;
  std::memset(&kernel, 0, sizeof kernel);
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd, req->buf, req->hdr()->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  alignas(NLMSG_ALIGNTO) static thread_local unsigned char buf[kBuf];
  int rc = -EPROTO;
  for (bool done = false; !done;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      rc = errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
      break;
    }
    int len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, static_cast<unsigned>(len)); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_ERROR) {
        // A truncated error message is not read past its end.
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) {
          rc = -EPROTO;
        } else {
          auto* e = static_cast<nlmsgerr*>(NLMSG_DATA(h));
          rc = e->error <= 0 ? e->error : -EPROTO;  // 0 is the acknowledgement
        }
        done = true;
        break;
      }
      if (h->nlmsg_type == NLMSG_DONE) {
        done = true;
        break;
      }
      if (h->nlmsg_type == answer) {
        // The answer's fixed header (ifinfomsg, ndmsg) must be there before any field of it is read.
        if (h->nlmsg_len < NLMSG_LENGTH(header_len)) {
          rc = -EPROTO;
          done = true;
          break;
        }
        on_answer(h);
        rc = 0;
        done = true;  // one interface asked for: one answer
        break;
      }
    }
    if (n == 0) break;
  }
  close(fd);
  return rc;
}

}  // namespace

int query_xdp(int ifindex, XdpState* out) {
  *out = XdpState{};
  Request req;
  req.start(RTM_GETLINK, 0, ifindex);
  return transact(&req, [out](nlmsghdr* h) {
    auto* ifi = static_cast<ifinfomsg*>(NLMSG_DATA(h));
    int len = static_cast<int>(h->nlmsg_len) - static_cast<int>(NLMSG_LENGTH(sizeof *ifi));
    for (rtattr* a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
      if ((a->rta_type & NLA_TYPE_MASK) != IFLA_XDP) continue;
      int nlen = static_cast<int>(RTA_PAYLOAD(a));
      for (auto* x = static_cast<rtattr*>(RTA_DATA(a)); RTA_OK(x, nlen); x = RTA_NEXT(x, nlen)) {
        size_t plen = RTA_PAYLOAD(x);
        uint32_t v = 0;
        if (plen >= sizeof v) std::memcpy(&v, RTA_DATA(x), sizeof v);
        switch (x->rta_type) {
          case IFLA_XDP_ATTACHED:
            if (plen >= 1) out->attached = *static_cast<uint8_t*>(RTA_DATA(x));
            break;
          case IFLA_XDP_DRV_PROG_ID: out->drv_prog_id = v; break;
          case IFLA_XDP_SKB_PROG_ID: out->skb_prog_id = v; break;
          case IFLA_XDP_HW_PROG_ID: out->hw_prog_id = v; break;
          case IFLA_XDP_PROG_ID:
            // With one program attached the kernel sends only this id; the mode is `attached`.
            if (out->attached == XDP_ATTACHED_DRV && out->drv_prog_id == 0) out->drv_prog_id = v;
            if (out->attached == XDP_ATTACHED_SKB && out->skb_prog_id == 0) out->skb_prog_id = v;
            if (out->attached == XDP_ATTACHED_HW && out->hw_prog_id == 0) out->hw_prog_id = v;
            break;
          default: break;
        }
      }
    }
  });
}

int detach_xdp(int ifindex, int expected_prog_fd, uint32_t mode_flags) {
  Request req;
  req.start(RTM_SETLINK, NLM_F_ACK, ifindex);
  rtattr* nest = req.put(IFLA_XDP | NLA_F_NESTED, nullptr, 0);
  int32_t none = -1;
  req.put(IFLA_XDP_FD, &none, sizeof none);
  int32_t expected = expected_prog_fd;
  req.put(IFLA_XDP_EXPECTED_FD, &expected, sizeof expected);
  uint32_t flags = mode_flags | XDP_FLAGS_REPLACE;
  req.put(IFLA_XDP_FLAGS, &flags, sizeof flags);
  req.end_nest(nest);
  return transact(&req, [](nlmsghdr*) {});
}

int neighbor_get(int ifindex, uint32_t ip, uint8_t mac[6]) {
  Request req;
  req.start_neigh(RTM_GETNEIGH, 0, ifindex, 0, 0);
  req.put(NDA_DST, &ip, sizeof ip);
  bool have_mac = false;
  uint16_t state = 0;
  int rc = transact(
      &req,
      [&](nlmsghdr* h) {
        auto* nd = static_cast<ndmsg*>(NLMSG_DATA(h));
        state = nd->ndm_state;
        int len = static_cast<int>(h->nlmsg_len) - static_cast<int>(NLMSG_LENGTH(sizeof *nd));
        for (auto* a = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(nd) + NLMSG_ALIGN(sizeof *nd)); RTA_OK(a, len);
             a = RTA_NEXT(a, len)) {
          if (a->rta_type == NDA_LLADDR && RTA_PAYLOAD(a) == 6) {
            std::memcpy(mac, RTA_DATA(a), 6);
            have_mac = true;
          }
        }
      },
      RTM_NEWNEIGH);
  if (rc < 0) return rc;
  const uint16_t usable = NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP;
  return have_mac && (state & usable) != 0 ? 0 : -EAGAIN;
}

int neighbor_resolve(int ifindex, uint32_t ip) {
  Request req;
  req.start_neigh(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_ACK, ifindex, NTF_USE, NUD_NONE);
  req.put(NDA_DST, &ip, sizeof ip);
  return transact(&req, [](nlmsghdr*) {}, RTM_NEWNEIGH);
}

}  // namespace ustack::xdp::netlink
