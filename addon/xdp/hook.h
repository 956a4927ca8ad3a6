// The interface's XDP hook: ustack's program attached through a bpf_link,
// and when the hook is taken, who holds it. A program named ustack_xdp
// attached without a link (left by a process that attached it through
// netlink) is stale: it is detached and the attach tried again. A linked
// one belongs to a live ustack (ERR_USTACK_XDP_IN_USE); any other program
// is not ours and stays (ERR_USTACK_XDP_BUSY, saying how to remove it).
#pragma once
#include <cstdint>
#include <string>

#include "common/error.h"

namespace ustack::xdp {

struct HookRequest {
  int prog_fd = -1;
  int ifindex = 0;
  std::string ifname;           // for messages
  bool native = true;           // XDP_FLAGS_DRV_MODE, else XDP_FLAGS_SKB_MODE
  bool generic_fallback = false;  // native asked: fall back to generic where the driver has no XDP
};

struct Hook {
  int link_fd = -1;  // the program stays attached while this (or a copy) is open
  uint32_t link_id = 0;
  bool native = false;
  uint32_t stale_replaced = 0;
};

// BPF_LINK_CREATE for XDP. Errors: ERR_USTACK_NO_PERMISSION,
// ERR_USTACK_XDP_UNSUPPORTED, ERR_USTACK_XDP_IN_USE, ERR_USTACK_XDP_BUSY.
int attach_to_hook(const HookRequest& req, Hook* out, Error* err);

}  // namespace ustack::xdp
