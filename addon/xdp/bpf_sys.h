// The bpf(2) commands ustack uses, over the raw system call (no libbpf).
// Each returns a file descriptor or 0 on success and -errno on failure; the
// descriptors are close-on-exec (the kernel opens every BPF fd that way), so
// a child process never keeps a program attached.
#pragma once
#include <linux/bpf.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ustack::xdp::bpf {

int map_create(uint32_t type, uint32_t key_size, uint32_t value_size, uint32_t max_entries, const char* name);
int map_update(int map_fd, const void* key, const void* value, uint64_t flags);
int map_delete(int map_fd, const void* key);
int map_lookup(int map_fd, const void* key, void* value);
// The next key after `key` (nullptr: the first); -ENOENT after the last.
int map_next_key(int map_fd, const void* key, void* next);

// Loads an XDP program (expected attach type BPF_XDP, license GPL: the
// redirect helpers are GPL-only). On failure *log holds the verifier's words.
int prog_load_xdp(const std::vector<bpf_insn>& insns, const char* name, std::string* log);

// BPF_LINK_CREATE for XDP on ifindex with XDP_FLAGS_* in flags: the program
// stays attached while the link's fd (or a copy of it) is open.
int link_create_xdp(int prog_fd, int ifindex, uint32_t flags);

int prog_get_fd_by_id(uint32_t id);
int link_get_fd_by_id(uint32_t id);
// The id after start_id of every link in the system (0 to begin); -ENOENT after the last.
int link_get_next_id(uint32_t start_id, uint32_t* next);

struct ProgInfo {
  uint32_t id = 0;
  std::string name;
};
int prog_info(int prog_fd, ProgInfo* out);

struct LinkInfo {
  uint32_t id = 0;
  uint32_t type = 0;     // BPF_LINK_TYPE_*
  uint32_t prog_id = 0;
  uint32_t ifindex = 0;  // for BPF_LINK_TYPE_XDP
};
int link_info(int link_fd, LinkInfo* out);

}  // namespace ustack::xdp::bpf
