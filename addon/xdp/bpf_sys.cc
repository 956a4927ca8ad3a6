#include "xdp/bpf_sys.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ustack::xdp::bpf {

namespace {

int sys_bpf(int cmd, bpf_attr* attr) {
  long rc = syscall(__NR_bpf, cmd, attr, sizeof(*attr));
  return rc < 0 ? -errno : static_cast<int>(rc);
}

uint64_t ptr(const void* p) { return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p)); }

void copy_name(char* dst, const char* name) {
  std::strncpy(dst, name, BPF_OBJ_NAME_LEN - 1);
  dst[BPF_OBJ_NAME_LEN - 1] = '\0';
}

}  // namespace

int map_create(uint32_t type, uint32_t key_size, uint32_t value_size, uint32_t max_entries, const char* name) {
  bpf_attr a;
  std::memset(&a, 0, sizeof a);
  a.map_type = type;
  a.key_size = key_size;
  a.value_size = value_size;
  a.max_entries = max_entries;
  copy_name(a.map_name, name);
  return sys_bpf(BPF_MAP_CREATE, &a);
}

int map_update(int map_fd, const void* key, const void* value, uint64_t flags) {
  bpf_attr a;
  std::memset(&a, 0, sizeof a);
  a.map_fd = static_cast<uint32_t>(map_fd);
  a.key = ptr(key);
  a.value = ptr(value);
  a.flags = flags;
  return sys_bpf(BPF_MAP_UPDATE_ELEM, &a);
}

int map_delete(int map_fd, const void* key) {
  bpf_attr a;
  std::memset(&a, 0, sizeof a);
  a.map_fd = static_cast<uint32_t>(map_fd);
  a.key = ptr(key);
  return sys_bpf(BPF_MAP_DELETE_ELEM, &a);
}

int map_lookup(int map_fd, const void* key, void* value) {
  bpf_attr a;
  std::memset(&a, 0, sizeof a);
  a.map_fd = static_cast<uint32_t>(map_fd);
  a.key = ptr(key);
  a.value = ptr(value);
  return sys_bpf(BPF_MAP_LOOKUP_ELEM, &a);
}

int map_next_key(int map_fd, const void* key, void* next) {
  bpf_attr a;
  std::memset(&a, 0, sizeof a);
  a.map_fd = static_cast<uint32_t>(map_fd);
  a.key = ptr(key);
  a.next_key = ptr(next);
  return sys_bpf(BPF_MAP_GET_NEXT_KEY, &a);
}

int prog_load_xdp(const std::vector<bpf_insn>& insns, const char* name, std::string* log) {
  static const char kLicense[] = "GPL";
  bpf_attr a;
  std::memset(&a, 0, sizeof a);
  a.prog_type = BPF_PROG_TYPE_XDP;
  a.expected_attach_type = BPF_XDP;
  a.insns = ptr(insns.data());
  a.insn_cnt = static_cast<uint32_t>(insns.size());
  a.license = ptr(kLicense);
  copy_name(a.prog_name, name);
  int fd = sys_bpf(BPF_PROG_LOAD, &a);
  if (fd >= 0 || log == nullptr) return fd;
  // Again with the verifier's log, only to say why.
  int err = fd;
  std::vector<char> buf(64 * 1024);
  a.log_buf = ptr(buf.data());
  a.log_size = static_cast<uint32_t>(buf.size());
  a.log_level = 1;
  int again = sys_bpf(BPF_PROG_LOAD, &a);
  if (again >= 0) {
    close(again);
  } else {
    buf.back() = '\0';
    *log = buf.data();
  }
  return err;
}

int link_create_xdp(int prog_fd, int ifindex, uint32_t flags) {
  bpf_attr a;
  std::memset(&a, 0, sizeof a);
  a.link_create.prog_fd = static_cast<uint32_t>(prog_fd);
  a.link_create.target_ifindex = static_cast<uint32_t>(ifindex);
  a.link_create.attach_type = BPF_XDP;
  a.link_create.flags = flags;
  return sys_bpf(BPF_LINK_CREATE, &a);
}

int prog_get_fd_by_id(uint32_t id) {
  bpf_attr a;
  std::memset(&a, 0, sizeof a);
  a.prog_id = id;
  return sys_bpf(BPF_PROG_GET_FD_BY_ID, &a);
}

int link_get_fd_by_id(uint32_t id) {
  bpf_attr a;
  std::memset(&a, 0, sizeof a);
  a.link_id = id;
  return sys_bpf(BPF_LINK_GET_FD_BY_ID, &a);
}

int link_get_next_id(uint32_t start_id, uint32_t* next) {
  bpf_attr a;
  std::memset(&a, 0, sizeof a);
  a.start_id = start_id;
  int rc = sys_bpf(BPF_LINK_GET_NEXT_ID, &a);
  if (rc < 0) return rc;
  *next = a.next_id;
  return 0;
}

int prog_info(int prog_fd, ProgInfo* out) {
  bpf_prog_info info;
  std::memset(&info, 0, sizeof info);
  bpf_attr a;
  std::memset(&a, 0, sizeof a);
  a.info.bpf_fd = static_cast<uint32_t>(prog_fd);
  a.info.info_len = sizeof info;
  a.info.info = ptr(&info);
  int rc = sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a);
  if (rc < 0) return rc;
  out->id = info.id;
  out->name.assign(info.name, strnlen(info.name, sizeof info.name));
  return 0;
}

int link_info(int link_fd, LinkInfo* out) {
  bpf_link_info info;
  std::memset(&info, 0, sizeof info);
  bpf_attr a;
  std::memset(&a, 0, sizeof a);
  a.info.bpf_fd = static_cast<uint32_t>(link_fd);
  a.info.info_len = sizeof info;
  a.info.info = ptr(&info);
  int rc = sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a);
  if (rc < 0) return rc;
  out->id = info.id;
  out->type = info.type;
  out->prog_id = info.prog_id;
  out->ifindex = info.type == BPF_LINK_TYPE_XDP ? info.xdp.ifindex : 0;
  return 0;
}

}  // namespace ustack::xdp::bpf
