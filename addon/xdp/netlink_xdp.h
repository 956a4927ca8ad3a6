// What rtnetlink says about XDP on an interface, and the detach of a program
// attached through netlink (IFLA_XDP) rather than a bpf_link; and the
// kernel's neighbour table, which the shared-address mode uses instead of
// ARP of its own (the kernel keeps ARP for an address it owns). Plain POSIX
// sockets; no libmnl/libnl.
#pragma once
#include <cstdint>

namespace ustack::xdp::netlink {

struct XdpState {
  uint8_t attached = 0;       // XDP_ATTACHED_NONE / DRV / SKB / HW / MULTI
  uint32_t drv_prog_id = 0;   // native-mode program, 0 if none
  uint32_t skb_prog_id = 0;   // generic-mode program, 0 if none
  uint32_t hw_prog_id = 0;    // offloaded program, 0 if none
};

// RTM_GETLINK for ifindex: 0 or -errno (-ENODEV: no such interface).
int query_xdp(int ifindex, XdpState* out);

// RTM_SETLINK IFLA_XDP { FD = -1, EXPECTED_FD = expected_prog_fd, FLAGS =
// mode_flags | XDP_FLAGS_REPLACE }: removes that program only if it is still
// the one attached in that mode. Fails (-EBUSY) for a program a bpf_link holds.
int detach_xdp(int ifindex, int expected_prog_fd, uint32_t mode_flags);

// The kernel's neighbour entry for the IPv4 address `ip` (network order) on
// ifindex: 0 with its MAC when usable (REACHABLE, STALE, DELAY, PROBE,
// PERMANENT, NOARP), -ENOENT when absent, -EAGAIN while unresolved or failed.
int neighbor_get(int ifindex, uint32_t ip, uint8_t mac[6]);

// Asks the kernel to resolve `ip` on ifindex (RTM_NEWNEIGH with NTF_USE, as
// a packet the kernel itself sends there would): it sends the ARP request,
// and its reply lands in the table.
int neighbor_resolve(int ifindex, uint32_t ip);

}  // namespace ustack::xdp::netlink
