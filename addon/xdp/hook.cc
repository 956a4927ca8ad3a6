#include "xdp/hook.h"

#include <linux/bpf.h>
#include <linux/if_link.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "xdp/bpf_sys.h"
#include "xdp/netlink_xdp.h"
#include "xdp/permission.h"
#include "xdp/program.h"

namespace ustack::xdp {

namespace {

// The bpf_link holding an XDP program on ifindex, or 0. A link lives only
// while some process holds its fd.
uint32_t xdp_link_on(int ifindex) {
  for (uint32_t id = 0; bpf::link_get_next_id(id, &id) == 0;) {
    int lfd = bpf::link_get_fd_by_id(id);
    if (lfd < 0) continue;
    bpf::LinkInfo li;
    bool found = bpf::link_info(lfd, &li) == 0 && li.type == BPF_LINK_TYPE_XDP && li.ifindex == static_cast<uint32_t>(ifindex);
    ::close(lfd);
    if (found) return li.id;
  }
  return 0;
}

// Who holds the hook? 0 after removing a stale program of ours (attach
// again), else the error to report. `rc` is the attach's -errno.
int explain_busy(const HookRequest& req, int rc, Hook* out, Error* err) {
  netlink::XdpState st;
  if (netlink::query_xdp(req.ifindex, &st) < 0) return fail(err, "bpf(BPF_LINK_CREATE)", -rc);
  struct Attached {
    uint32_t id;
    uint32_t mode_flag;
    const char* mode;
  };
  const Attached progs[3] = {{st.drv_prog_id, XDP_FLAGS_DRV_MODE, "native"},
                             {st.skb_prog_id, XDP_FLAGS_SKB_MODE, "generic"},
                             {st.hw_prog_id, XDP_FLAGS_HW_MODE, "offloaded"}};
  const std::string& ifname = req.ifname;
  for (const Attached& a : progs) {
    if (a.id == 0) continue;
    int pfd = bpf::prog_get_fd_by_id(a.id);
    bpf::ProgInfo pi;
    if (pfd >= 0) bpf::prog_info(pfd, &pi);
    uint32_t link_id = xdp_link_on(req.ifindex);
    bool ours = pi.name == kProgramName;
    std::string what = std::string(a.mode) + " XDP program '" + pi.name + "' (id " + std::to_string(a.id) + ")";
    if (ours && link_id == 0 && pfd >= 0) {
      // Ours, attached without a link by a process that is gone: replace it.
      int d = netlink::detach_xdp(req.ifindex, pfd, a.mode_flag);
      ::close(pfd);
      if (d == 0) {
        out->stale_replaced++;
        return 0;
      }
      return fail(err, "RTM_SETLINK(IFLA_XDP)", -d, "ERR_USTACK_XDP_BUSY",
                  "a stale " + what + " is attached to '" + ifname + "' and could not be removed");
    }
    if (pfd >= 0) ::close(pfd);
    if (ours) {
      return fail(err, "bpf(BPF_LINK_CREATE)", EBUSY, "ERR_USTACK_XDP_IN_USE",
                  "another ustack process drives '" + ifname + "' (" + what + ", bpf_link id " + std::to_string(link_id) + ")");
    }
    return fail(err, "bpf(BPF_LINK_CREATE)", EBUSY, "ERR_USTACK_XDP_BUSY",
                "another " + what + " is attached to '" + ifname + "'; ustack does not replace a program it did not load" +
                    (link_id != 0 ? " (a bpf_link, id " + std::to_string(link_id) + ", holds it: stop its owner)"
                                  : " (remove it with `ip link set dev " + ifname + " xdp off`)"));
  }
  return fail(err, "bpf(BPF_LINK_CREATE)", -rc, "ERR_USTACK_XDP_BUSY", "the XDP hook of '" + ifname + "' is busy");
}

}  // namespace

int attach_to_hook(const HookRequest& req, Hook* out, Error* err) {
  *out = Hook{};
  for (int attempt = 0; attempt < 2; attempt++) {
    bool native = req.native;
    int rc = bpf::link_create_xdp(req.prog_fd, req.ifindex, native ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE);
    if (rc == -EOPNOTSUPP && native && req.generic_fallback) {
      native = false;
      rc = bpf::link_create_xdp(req.prog_fd, req.ifindex, XDP_FLAGS_SKB_MODE);
    }
    if (rc >= 0) {
      out->link_fd = rc;
      out->native = native;
      bpf::LinkInfo li;
      if (bpf::link_info(rc, &li) == 0) out->link_id = li.id;
      return 0;
    }
    int e = -rc;
    if (is_permission(e)) return permission_error(err, "bpf(BPF_LINK_CREATE)", e);
    if (e == EOPNOTSUPP) {
      bool asked_native = req.native && !req.generic_fallback;
      return fail(err, "bpf(BPF_LINK_CREATE)", e, "ERR_USTACK_XDP_UNSUPPORTED",
                  "'" + req.ifname + "' has no " + (asked_native ? "native (driver) " : "") + "XDP support" +
                      (asked_native ? "; mode=generic works on any interface" : ""));
    }
    if (e != EBUSY && e != EEXIST) return fail(err, "bpf(BPF_LINK_CREATE)", e);
    // Something is attached already: ours, left behind, is replaced once.
    rc = explain_busy(req, rc, out, err);
    if (rc != 0) return rc;
  }
  return fail(err, "bpf(BPF_LINK_CREATE)", EBUSY, "ERR_USTACK_XDP_BUSY",
              "an XDP program stays attached to '" + req.ifname + "' after ustack removed its stale one");
}

}  // namespace ustack::xdp
