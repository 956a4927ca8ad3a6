// PCI device access through UIO and VFIO. See pci.h.
#include "pci/pci.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "pci/address.h"

namespace ustack::pci {

namespace {

const std::string kSysPci = "/sys/bus/pci/devices/";

int read_hex_file(const std::string& path, unsigned* out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  char buf[32] = {0};
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  int e = errno;
  ::close(fd);
  if (n <= 0) return n < 0 ? -e : -EIO;
  *out = static_cast<unsigned>(std::strtoul(buf, nullptr, 16));
  return 0;
}

int map_bar0(Device& d, int fd, uint64_t offset, size_t len, Error* err) {
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, static_cast<off_t>(offset));
  if (p == MAP_FAILED) return fail(err, "mmap(BAR0)", errno);
  d.bar0 = static_cast<volatile uint8_t*>(p);
  d.bar0_len = len;
  return 0;
}

int open_uio(Device& d, Error* err, bool with_bar0) {
  const std::string base = kSysPci + d.addr;
  std::string uio_name;
  DIR* dir = ::opendir((base + "/uio").c_str());
  if (dir == nullptr) {
    return fail(err, "opendir(uio)", ENODEV, "ERR_USTACK_NOT_BOUND",
                "device " + d.addr + " is not bound to uio_pci_generic (run: ustack bind " + d.addr + " --uio)");
  }
  while (struct dirent* ent = ::readdir(dir)) {
    if (std::strncmp(ent->d_name, "uio", 3) == 0) uio_name = ent->d_name;
  }
  ::closedir(dir);
  if (uio_name.empty()) return fail(err, "readdir(uio)", ENODEV, "ERR_USTACK_NOT_BOUND", "no uio device for " + d.addr);

  // UIO lets any number of processes open a device, and each would reset and
  // reprogram it under the one driving it. VFIO refuses a second open of the
  // group; here an exclusive lock does the same, taken before anything
  // touches the device. It is on the sysfs config file, not on /dev/uioN:
  // uio_pci_generic clears bus mastering whenever a /dev/uioN file is
  // closed, so a refused second process must not have opened it. The kernel
  // drops the lock when its holder exits, however it exits.
  d.config_fd = ::open((base + "/config").c_str(), O_RDWR | O_CLOEXEC);
  if (d.config_fd < 0) return fail(err, "open(config)", errno);
  if (::flock(d.config_fd, LOCK_EX | LOCK_NB) < 0) {
    int e = errno == EWOULDBLOCK ? EBUSY : errno;
    if (e == EBUSY) {
      return fail(err, "flock(config)", e, "EBUSY",
                  "EBUSY: device " + d.addr + " is in use by another process (it holds the lock on " + base +
                      "/config); stop that process first");
    }
    return fail(err, "flock(config)", e);
  }
  const std::string uio_path = "/dev/" + uio_name;
  d.uio_fd = ::open(uio_path.c_str(), O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (d.uio_fd < 0) {
    int e = errno;
    if (e == ENOENT) return fail(err, "open(/dev/uio)", e, "", uio_path + " is missing (is devtmpfs mounted?)");
    return fail(err, "open(/dev/uio)", e);
  }
  if (!with_bar0) return 0;
  d.bar_fd = ::open((base + "/resource0").c_str(), O_RDWR | O_SYNC | O_CLOEXEC);
  if (d.bar_fd < 0) return fail(err, "open(resource0)", errno);
  struct stat st;
  if (::fstat(d.bar_fd, &st) < 0) return fail(err, "fstat(resource0)", errno);
  return map_bar0(d, d.bar_fd, 0, static_cast<size_t>(st.st_size), err);
}

int open_vfio(Device& d, Error* err, bool with_bar0) {
  const std::string base = kSysPci + d.addr;
  char link[512];
  ssize_t n = ::readlink((base + "/iommu_group").c_str(), link, sizeof link - 1);
  if (n < 0) {
    return fail(err, "readlink(iommu_group)", errno, "ERR_USTACK_NO_IOMMU",
                "device " + d.addr + " has no IOMMU group (boot with intel_iommu=on, or use --uio)");
  }
  link[n] = 0;
  const char* slash = std::strrchr(link, '/');
  std::string group = slash ? slash + 1 : link;

  d.container_fd = ::open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
  if (d.container_fd < 0) return fail(err, "open(/dev/vfio/vfio)", errno, "", "is the vfio module loaded?");
  if (::ioctl(d.container_fd, VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
    return fail(err, "ioctl(VFIO_GET_API_VERSION)", EINVAL);
  }
  std::string gpath = "/dev/vfio/" + group;
  d.group_fd = ::open(gpath.c_str(), O_RDWR | O_CLOEXEC);
  if (d.group_fd < 0) {
    int e = errno;
    // No-IOMMU groups are named noiommu-N.
    d.group_fd = ::open(("/dev/vfio/noiommu-" + group).c_str(), O_RDWR | O_CLOEXEC);
    if (d.group_fd < 0) {
      if (e == ENOENT) {
        return fail(err, "open(/dev/vfio/group)", e, "ERR_USTACK_NOT_BOUND",
                    "device " + d.addr + " is not bound to vfio-pci (run: ustack bind " + d.addr + " --vfio)");
      }
      if (e == EBUSY) return fail(err, "open(/dev/vfio/group)", e, "", "the IOMMU group is in use by another process");
      return fail(err, "open(/dev/vfio/group)", e);
    }
    d.noiommu = true;
  }
  struct vfio_group_status gs;
  std::memset(&gs, 0, sizeof gs);
  gs.argsz = sizeof gs;
  if (::ioctl(d.group_fd, VFIO_GROUP_GET_STATUS, &gs) < 0) return fail(err, "ioctl(VFIO_GROUP_GET_STATUS)", errno);
  if (!(gs.flags & VFIO_GROUP_FLAGS_VIABLE)) {
    return fail(err, "ioctl(VFIO_GROUP_GET_STATUS)", EINVAL, "ERR_USTACK_GROUP_NOT_VIABLE",
                "IOMMU group " + group + " is not viable: every device in it must be bound to vfio-pci (see /sys/kernel/iommu_groups/" +
                    group + "/devices)");
  }
  if (::ioctl(d.group_fd, VFIO_GROUP_SET_CONTAINER, &d.container_fd) < 0) return fail(err, "ioctl(VFIO_GROUP_SET_CONTAINER)", errno);
  int type = d.noiommu ? VFIO_NOIOMMU_IOMMU : VFIO_TYPE1_IOMMU;
  if (!d.noiommu && ::ioctl(d.container_fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) == 1) type = VFIO_TYPE1v2_IOMMU;
  if (::ioctl(d.container_fd, VFIO_SET_IOMMU, type) < 0) return fail(err, "ioctl(VFIO_SET_IOMMU)", errno);
  d.device_fd = ::ioctl(d.group_fd, VFIO_GROUP_GET_DEVICE_FD, d.addr.c_str());
  if (d.device_fd < 0) return fail(err, "ioctl(VFIO_GROUP_GET_DEVICE_FD)", errno);

  struct vfio_region_info ri;
  std::memset(&ri, 0, sizeof ri);
  ri.argsz = sizeof ri;
  ri.index = VFIO_PCI_CONFIG_REGION_INDEX;
  if (::ioctl(d.device_fd, VFIO_DEVICE_GET_REGION_INFO, &ri) < 0) return fail(err, "ioctl(VFIO_DEVICE_GET_REGION_INFO)", errno);
  d.config_offset = ri.offset;
  if (with_bar0) {
    std::memset(&ri, 0, sizeof ri);
    ri.argsz = sizeof ri;
    ri.index = VFIO_PCI_BAR0_REGION_INDEX;
    if (::ioctl(d.device_fd, VFIO_DEVICE_GET_REGION_INFO, &ri) < 0) return fail(err, "ioctl(VFIO_DEVICE_GET_REGION_INFO)", errno);
    if (!(ri.flags & VFIO_REGION_INFO_FLAG_MMAP)) return fail(err, "mmap(BAR0)", ENOTSUP);
    int rc = map_bar0(d, d.device_fd, ri.offset, ri.size, err);
    if (rc < 0) return rc;
  }

  // INTx -> eventfd (the 8254x has no MSI; the virtio driver uses INTx
  // too). vfio masks the line when it fires; irq_unmask() re-enables it.
  d.irq_eventfd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (d.irq_eventfd < 0) return fail(err, "eventfd", errno);
  char buf[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
  auto* set = reinterpret_cast<struct vfio_irq_set*>(buf);
  set->argsz = sizeof buf;
  set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
  set->index = VFIO_PCI_INTX_IRQ_INDEX;
  set->start = 0;
  set->count = 1;
  std::memcpy(set->data, &d.irq_eventfd, sizeof(int32_t));
  if (::ioctl(d.device_fd, VFIO_DEVICE_SET_IRQS, set) < 0) return fail(err, "ioctl(VFIO_DEVICE_SET_IRQS)", errno);
  return 0;
}

}  // namespace

int read_ids(const std::string& addr, uint16_t* vendor, uint16_t* device) {
  if (!parse_address(addr, nullptr)) return -EINVAL;
  unsigned v = 0, dv = 0;
  int rc = read_hex_file(kSysPci + addr + "/vendor", &v);
  if (rc < 0) return rc;
  rc = read_hex_file(kSysPci + addr + "/device", &dv);
  if (rc < 0) return rc;
  *vendor = static_cast<uint16_t>(v);
  *device = static_cast<uint16_t>(dv);
  return 0;
}

int current_driver(const std::string& addr, std::string* driver) {
  if (!parse_address(addr, nullptr)) return -EINVAL;
  char link[512];
  ssize_t n = ::readlink((kSysPci + addr + "/driver").c_str(), link, sizeof link - 1);
  if (n < 0) {
    if (errno == ENOENT) {
      driver->clear();
      return 0;
    }
    return -errno;
  }
  link[n] = 0;
  const char* slash = std::strrchr(link, '/');
  *driver = slash ? slash + 1 : link;
  return 0;
}

int open_device(const std::string& addr, Access access, Device* d, Error* err, bool map_bar0) {
  // Every path below is built from the address: nothing but DDDD:BB:DD.F.
  if (!parse_address(addr, nullptr)) {
    return fail(err, "open", EINVAL, "ERR_INVALID_ARG_VALUE",
                "invalid PCI address '" + addr.substr(0, 64) + "' (expected DDDD:BB:DD.F, e.g. 0000:00:03.0)");
  }
  d->addr = addr;
  d->access = access;
  struct stat st;
  if (::stat((kSysPci + addr).c_str(), &st) < 0) {
    return fail(err, "stat(/sys/bus/pci/devices)", ENODEV, "ERR_USTACK_NO_DEVICE", "no PCI device " + addr + " (see: ustack devices)");
  }
  int rc = read_ids(addr, &d->vendor, &d->device_id);
  if (rc < 0) return fail(err, "read(vendor)", -rc);
  std::string drv;
  current_driver(addr, &drv);
  const char* want = access == Access::kUio ? "uio_pci_generic" : "vfio-pci";
  if (drv != want) {
    std::string how = std::string("ustack bind ") + addr + (access == Access::kUio ? " --uio" : " --vfio");
    if (drv.empty()) {
      return fail(err, "open", ENODEV, "ERR_USTACK_NOT_BOUND", "device " + addr + " is not bound to " + want + " (run: " + how + ")");
    }
    return fail(err, "open", EBUSY, "ERR_USTACK_DEVICE_IN_USE",
                "device " + addr + " is in use by the kernel driver '" + drv + "' (run: " + how + ")");
  }
  rc = access == Access::kUio ? open_uio(*d, err, map_bar0) : open_vfio(*d, err, map_bar0);
  if (rc < 0) {
    int e = -rc;
    close_device(*d);
    if ((e == EACCES || e == EPERM) && err != nullptr && err->code.empty()) {
      err->code = "ERR_USTACK_NO_PERMISSION";
      err->message = std::string("no permission to access ") + addr + " (run as root, or give this user access to the device files)";
    }
    return -e;
  }
  return 0;
}

int map_bar(Device& d, unsigned bar, volatile uint8_t** addr, size_t* len, Error* err) {
  static const char* const kCalls[6] = {"mmap(BAR0)", "mmap(BAR1)", "mmap(BAR2)", "mmap(BAR3)", "mmap(BAR4)", "mmap(BAR5)"};
  if (bar > 5) return fail(err, "mmap(BAR)", EINVAL);
  if (bar == 0 && d.bar0 != nullptr) {
    *addr = d.bar0;
    *len = d.bar0_len;
    return 0;
  }
  if (d.bars[bar] != nullptr) {
    *addr = d.bars[bar];
    *len = d.bar_lens[bar];
    return 0;
  }
  const char* call = kCalls[bar];
  void* p = MAP_FAILED;
  size_t size = 0;
  if (d.access == Access::kUio) {
    std::string path = kSysPci + d.addr + "/resource" + std::to_string(bar);
    int fd = ::open(path.c_str(), O_RDWR | O_SYNC | O_CLOEXEC);
    if (fd < 0) {
      int e = errno;
      return fail(err, call, e == ENOENT ? ENODEV : e, "", e == ENOENT ? "device " + d.addr + " has no memory BAR" + std::to_string(bar) : "");
    }
    struct stat st;
    if (::fstat(fd, &st) < 0 || st.st_size <= 0) {
      int e = errno != 0 ? errno : ENODEV;
      ::close(fd);
      return fail(err, call, e);
    }
    size = static_cast<size_t>(st.st_size);
    p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int e = errno;
    ::close(fd);  // the mapping stays
    if (p == MAP_FAILED) return fail(err, call, e);
  } else {
    struct vfio_region_info ri;
    std::memset(&ri, 0, sizeof ri);
    ri.argsz = sizeof ri;
    ri.index = VFIO_PCI_BAR0_REGION_INDEX + bar;
    if (::ioctl(d.device_fd, VFIO_DEVICE_GET_REGION_INFO, &ri) < 0) return fail(err, "ioctl(VFIO_DEVICE_GET_REGION_INFO)", errno);
    if (ri.size == 0) return fail(err, call, ENODEV, "", "device " + d.addr + " has no BAR" + std::to_string(bar));
    if (!(ri.flags & VFIO_REGION_INFO_FLAG_MMAP)) return fail(err, call, ENOTSUP);
    size = ri.size;
    p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, d.device_fd, static_cast<off_t>(ri.offset));
    if (p == MAP_FAILED) return fail(err, call, errno);
  }
  if (bar == 0) {
    d.bar0 = static_cast<volatile uint8_t*>(p);
    d.bar0_len = size;
  } else {
    d.bars[bar] = static_cast<volatile uint8_t*>(p);
    d.bar_lens[bar] = size;
  }
  *addr = static_cast<volatile uint8_t*>(p);
  *len = size;
  return 0;
}

int config_read(Device& d, uint32_t off, void* buf, size_t len) {
  ssize_t n;
  if (d.access == Access::kUio) {
    n = ::pread(d.config_fd, buf, len, off);
  } else {
    n = ::pread(d.device_fd, buf, len, static_cast<off_t>(d.config_offset + off));
  }
  if (n < 0) return -errno;
  return n == static_cast<ssize_t>(len) ? 0 : -EIO;
}

int config_write(Device& d, uint32_t off, const void* buf, size_t len) {
  ssize_t n;
  if (d.access == Access::kUio) {
    if (d.config_fd < 0) return -EBADF;
    n = ::pwrite(d.config_fd, buf, len, off);
  } else {
    if (d.device_fd < 0) return -EBADF;
    n = ::pwrite(d.device_fd, buf, len, static_cast<off_t>(d.config_offset + off));
  }
  if (n < 0) return -errno;
  return n == static_cast<ssize_t>(len) ? 0 : -EIO;
}

int set_command_bits(Device& d, bool memory, bool bus_master) {
  uint16_t cmd = 0;
  int rc = config_read(d, 4, &cmd, 2);
  if (rc < 0) return rc;
  uint16_t want = cmd;
  want = memory ? (want | 0x2) : (want & ~0x2);
  want = bus_master ? (want | 0x4) : (want & ~0x4);
  if (want == cmd) return 0;
  return config_write(d, 4, &want, 2);
}

int irq_fd(const Device& d) { return d.access == Access::kUio ? d.uio_fd : d.irq_eventfd; }

void irq_consume(Device& d) {
  if (d.access == Access::kUio) {
    uint32_t count;
    if (::read(d.uio_fd, &count, sizeof count) < 0) { /* EAGAIN: nothing pending */ }
  } else {
    uint64_t v;
    if (::read(d.irq_eventfd, &v, sizeof v) < 0) { /* EAGAIN */ }
  }
}

int irq_unmask(Device& d) {
  if (d.access == Access::kUio) {
    // uio_pci_generic masks INTx in the command register (Interrupt Disable,
    // bit 10) when the interrupt fires and has no irqcontrol: a write() to
    // /dev/uioN fails with ENOSYS. Clear the bit in config space instead.
    uint16_t cmd = 0;
    int rc = config_read(d, 4, &cmd, 2);
    if (rc < 0) return rc;
    if (!(cmd & 0x400)) return 0;
    cmd = static_cast<uint16_t>(cmd & ~0x400);
    return config_write(d, 4, &cmd, 2);
  }
  struct vfio_irq_set set;
  std::memset(&set, 0, sizeof set);
  set.argsz = sizeof set;
  set.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK;
  set.index = VFIO_PCI_INTX_IRQ_INDEX;
  set.start = 0;
  set.count = 1;
  if (::ioctl(d.device_fd, VFIO_DEVICE_SET_IRQS, &set) < 0) return -errno;
  return 0;
}

int vfio_map_dma(Device& d, void* vaddr, size_t len, uint64_t iova) {
  struct vfio_iommu_type1_dma_map m;
  std::memset(&m, 0, sizeof m);
  m.argsz = sizeof m;
  m.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
  m.vaddr = reinterpret_cast<uint64_t>(vaddr);
  m.iova = iova;
  m.size = len;
  if (::ioctl(d.container_fd, VFIO_IOMMU_MAP_DMA, &m) < 0) return -errno;
  return 0;
}

int vfio_unmap_dma(Device& d, size_t len, uint64_t iova) {
  struct vfio_iommu_type1_dma_unmap u;
  std::memset(&u, 0, sizeof u);
  u.argsz = sizeof u;
  u.iova = iova;
  u.size = len;
  if (::ioctl(d.container_fd, VFIO_IOMMU_UNMAP_DMA, &u) < 0) return -errno;
  return 0;
}

void close_device(Device& d) {
  if (d.bar0 != nullptr) {
    ::munmap(const_cast<uint8_t*>(d.bar0), d.bar0_len);
    d.bar0 = nullptr;
  }
  for (int i = 1; i < 6; i++) {
    if (d.bars[i] != nullptr) ::munmap(const_cast<uint8_t*>(d.bars[i]), d.bar_lens[i]);
    d.bars[i] = nullptr;
    d.bar_lens[i] = 0;
  }
  int* fds[] = {&d.irq_eventfd, &d.device_fd, &d.group_fd, &d.container_fd, &d.bar_fd, &d.config_fd, &d.uio_fd};
  for (int* fd : fds) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

}  // namespace ustack::pci
