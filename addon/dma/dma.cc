// DMA memory: hugetlbfs + pagemap, or anonymous memory for VFIO. See dma.h.
#include "dma/dma.h"
#include "dma/view_hold.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace ustack::dma {

namespace {

std::atomic<unsigned> g_seq{0};

// Every region is left out of a fork (the child gets no mapping at all).
// The anonymous (VFIO) region is private: after a fork a write to it is
// copy-on-write, and the process can end up on a fresh page while the NIC
// keeps DMAing to the old one the IOMMU maps. The hugetlbfs region is
// shared: a child would keep the packet memory, and the physical addresses
// the device was given, alive and writable after the driver freed it.
// (child_process spawns with vfork/exec, which copies nothing; this covers
// a plain fork.)
int dont_fork(void* p, size_t len, Error* err) {
  if (::madvise(p, len, MADV_DONTFORK) < 0) return fail(err, "madvise(MADV_DONTFORK)", errno);
  return 0;
}

}  // namespace

std::string hugetlbfs_mount() {
  FILE* f = std::fopen("/proc/mounts", "re");
  if (f == nullptr) return "";
  char dev[256], dir[512], type[64];
  std::string found;
  while (std::fscanf(f, "%255s %511s %63s %*s %*d %*d\n", dev, dir, type) == 3) {
    if (std::strcmp(type, "hugetlbfs") == 0) {
      found = dir;
      break;
    }
  }
  std::fclose(f);
  return found;
}

size_t huge_page_size() {
  FILE* f = std::fopen("/proc/meminfo", "re");
  if (f == nullptr) return 2u << 20;
  char line[256];
  size_t kb = 2048;
  while (std::fgets(line, sizeof line, f)) {
    if (std::sscanf(line, "Hugepagesize: %zu kB", &kb) == 1) break;
  }
  std::fclose(f);
  return kb * 1024;
}

uint64_t virt_to_phys(const void* p) {
  int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  long ps = ::sysconf(_SC_PAGESIZE);
  uintptr_t v = reinterpret_cast<uintptr_t>(p);
  uint64_t entry = 0;
  ssize_t n = ::pread(fd, &entry, sizeof entry, static_cast<off_t>((v / ps) * sizeof entry));
  ::close(fd);
  if (n != sizeof entry) return 0;
  if (!(entry & (1ULL << 63))) return 0;  // not present
  uint64_t pfn = entry & ((1ULL << 55) - 1);
  if (pfn == 0) return 0;  // hidden without CAP_SYS_ADMIN
  return pfn * static_cast<uint64_t>(ps) + (v % ps);
}

int alloc_hugetlb(size_t size, Region* r, Error* err) {
  std::string mnt = hugetlbfs_mount();
  if (mnt.empty()) {
    return fail(err, "open(hugetlbfs)", ENOENT, "ERR_USTACK_NO_HUGEPAGES",
                "no hugetlbfs mount: reserve huge pages and mount hugetlbfs first (run: ustack hugepages 64)");
  }
  size_t hp = huge_page_size();
  size_t total = (size + hp - 1) / hp * hp;
  char name[64];
  std::snprintf(name, sizeof name, "/ustack-dma-%d-%u", static_cast<int>(::getpid()), g_seq.fetch_add(1));
  std::string path = mnt + name;
  int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    int e = errno;
    if (e == EACCES || e == EPERM) {
      return fail(err, "open(hugetlbfs)", e, "ERR_USTACK_NO_PERMISSION", "no permission to create a file on " + mnt);
    }
    return fail(err, "open(hugetlbfs)", e);
  }
  ::unlink(path.c_str());
  if (::ftruncate(fd, static_cast<off_t>(total)) < 0) {
    int e = errno;
    ::close(fd);
    return fail(err, "ftruncate(hugetlbfs)", e);
  }
  void* p = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  int e = errno;
  ::close(fd);
  if (p == MAP_FAILED) {
    return fail(err, "mmap(hugetlbfs)", e, "ERR_USTACK_NO_HUGEPAGES",
                "not enough free huge pages for " + std::to_string(total >> 20) + " MiB (run: ustack hugepages 64)");
  }
  // Touch every page: hugetlbfs reports a reservation failure as SIGBUS on
  // first touch otherwise; MAP_POPULATE already faulted them in.
  if (::mlock(p, total) < 0) {
    e = errno;
    ::munmap(p, total);
    return fail(err, "mlock", e);
  }
  if (int rc = dont_fork(p, total, err); rc < 0) {
    ::munmap(p, total);
    return rc;
  }
  std::memset(p, 0, total);
  r->virt = static_cast<uint8_t*>(p);
  r->size = total;
  r->page_size = hp;
  r->hugetlb = true;
  r->phys.clear();
  for (size_t off = 0; off < total; off += hp) {
    uint64_t pa = virt_to_phys(r->virt + off);
    if (pa == 0) {
      free_region(r);
      return fail(err, "pread(/proc/self/pagemap)", EPERM, "ERR_USTACK_NO_PERMISSION",
                  "physical addresses are hidden in /proc/self/pagemap (needs CAP_SYS_ADMIN: run as root)");
    }
    r->phys.push_back(pa);
  }
  return 0;
}

int map_hugetlb_fd(int fd, Region* r, Error* err) {
  constexpr long kHugetlbfsMagic = 0x958458f6;
  struct statfs sfs;
  struct stat st;
  if (::fstatfs(fd, &sfs) < 0) return fail(err, "fstatfs", errno);
  if (::fstat(fd, &st) < 0) return fail(err, "fstat", errno);
  size_t hp = static_cast<size_t>(sfs.f_bsize);
  if (static_cast<long>(sfs.f_type) != kHugetlbfsMagic || hp < (2u << 20) || (hp & (hp - 1)) != 0 || st.st_size <= 0 ||
      static_cast<size_t>(st.st_size) % hp != 0) {
    return fail(err, "fstatfs", EINVAL, "ERR_USTACK_NO_HUGEPAGES",
                "fd " + std::to_string(fd) + " is not huge-page memory: a device reaches a shared pool by physical address only in huge pages");
  }
  size_t total = static_cast<size_t>(st.st_size);
  void* p = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (p == MAP_FAILED) return fail(err, "mmap(hugetlb memfd)", errno);
  if (::mlock(p, total) < 0) {
    int e = errno;
    ::munmap(p, total);
    return fail(err, "mlock", e);
  }
  if (int rc = dont_fork(p, total, err); rc < 0) {
    ::munmap(p, total);
    return rc;
  }
  r->virt = static_cast<uint8_t*>(p);
  r->size = total;
  r->page_size = hp;
  r->hugetlb = true;
  r->phys.clear();
  for (size_t off = 0; off < total; off += hp) {
    uint64_t pa = virt_to_phys(r->virt + off);
    if (pa == 0) {
      free_region(r);
      return fail(err, "pread(/proc/self/pagemap)", EPERM, "ERR_USTACK_NO_PERMISSION",
                  "physical addresses are hidden in /proc/self/pagemap (needs CAP_SYS_ADMIN: run as root)");
    }
    r->phys.push_back(pa);
  }
  return 0;
}

int alloc_anon(size_t size, Region* r, Error* err) {
  long ps = ::sysconf(_SC_PAGESIZE);
  size_t total = (size + ps - 1) / ps * ps;
  void* p = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED) return fail(err, "mmap", errno);
  if (::mlock(p, total) < 0) {
    int e = errno;
    ::munmap(p, total);
    return fail(err, "mlock", e);
  }
  if (int rc = dont_fork(p, total, err); rc < 0) {
    ::munmap(p, total);
    return rc;
  }
  std::memset(p, 0, total);
  r->virt = static_cast<uint8_t*>(p);
  r->size = total;
  r->page_size = total;
  r->hugetlb = false;
  r->phys.assign(1, 0);
  return 0;
}

void set_iova(Region* r, uint64_t iova) {
  r->iova = iova;
  r->page_size = r->size;
  r->phys.assign(1, iova);
}

void free_region(Region* r) {
  if (r->virt != nullptr) {
    ::munlock(r->virt, r->size);
    // JavaScript may still view the memory (an external ArrayBuffer): then
    // the addresses stay mapped, to zero pages, until it lets go (view_hold.h).
    unmap_or_retire(r->virt, r->size);
  }
  r->virt = nullptr;
  r->size = 0;
  r->phys.clear();
}

}  // namespace ustack::dma
