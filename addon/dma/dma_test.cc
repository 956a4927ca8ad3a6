// DMA regions are left out of a fork (MADV_DONTFORK): a forked child has no
// mapping at the region's address, and the parent's mapping carries the
// kernel's "dc" (do not copy) flag. Anonymous (VFIO) memory always; the
// hugetlbfs region when this host has free huge pages. Built and run by
// scripts/test-native.sh; prints "N passed, N failed" (and what it
// skipped, with the reason).
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "dma/dma.h"
#include "common/test_check.h"

namespace dma = ustack::dma;


// The VmFlags line of the /proc/self/smaps entry that starts at `p`.
static std::string vm_flags(const void* p) {
  std::ifstream in("/proc/self/smaps");
  char start[32];
  std::snprintf(start, sizeof start, "%lx-", reinterpret_cast<unsigned long>(p));
  std::string line;
  bool in_entry = false;
  while (std::getline(in, line)) {
    if (line.rfind(start, 0) == 0) in_entry = true;
    else if (in_entry && line.rfind("VmFlags:", 0) == 0) return line;
  }
  return "";
}

static bool has_flag(const std::string& flags, const char* f) {
  std::istringstream ss(flags);
  std::string w;
  while (ss >> w) {
    if (w == f) return true;
  }
  return false;
}

// Whether a forked child finds the region unmapped (mincore: ENOMEM) and the
// parent's pages stay as they were after the child tried to write.
static bool child_has_no_mapping(dma::Region& r) {
  std::memset(r.virt, 0x5a, 64);
  pid_t pid = ::fork();
  if (pid == 0) {
    unsigned char vec[1];
    int rc = ::mincore(r.virt, 4096, vec);
    ::_exit(rc < 0 && errno == ENOMEM ? 0 : 1);
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 && r.virt[0] == 0x5a;
}

int main() {
  {
    dma::Region r;
    ustack::Error err;
    int rc = dma::alloc_anon(1u << 20, &r, &err);
    if (rc == -ENOMEM || rc == -EPERM || rc == -EAGAIN) {
      std::printf("dma: anonymous region skipped: %s failed (%s): no mlock allowance\n", err.syscall, std::strerror(-rc));
    } else {
      CHECK(rc == 0);
      if (rc == 0) {
        std::string flags = vm_flags(r.virt);
        CHECK(has_flag(flags, "dc"));  // VM_DONTCOPY
        CHECK(has_flag(flags, "lo"));  // locked
        CHECK(child_has_no_mapping(r));
        dma::free_region(&r);
      }
    }
  }
  {
    size_t hp = dma::huge_page_size();
    long free_pages = 0;
    std::ifstream mi("/proc/meminfo");
    std::string line;
    while (std::getline(mi, line)) {
      if (line.rfind("HugePages_Free:", 0) == 0) free_pages = std::stol(line.substr(15));
    }
    if (dma::hugetlbfs_mount().empty() || free_pages < 1) {
      std::printf("dma: hugetlbfs region skipped: no hugetlbfs mount or no free huge pages on this host (the VM test covers it)\n");
    } else {
      dma::Region r;
      ustack::Error err;
      int rc = dma::alloc_hugetlb(hp, &r, &err);
      CHECK(rc == 0);
      if (rc == 0) {
        CHECK(has_flag(vm_flags(r.virt), "dc"));
        CHECK(child_has_no_mapping(r));
        dma::free_region(&r);
      }
    }
  }
  std::printf("dma: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
