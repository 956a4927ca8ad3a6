#include "xdp/queues.h"

#include <dirent.h>

#include <cstring>

namespace ustack::xdp {

uint32_t rx_queue_count(const std::string& ifname) {
  // The name becomes part of a path: no '/' and no dot names.
  if (ifname.empty() || ifname.find('/') != std::string::npos || ifname == "." || ifname == "..") return 0;
  std::string path = "/sys/class/net/" + ifname + "/queues";
  DIR* d = opendir(path.c_str());
  if (d == nullptr) return 0;
  uint32_t n = 0;
  while (dirent* e = readdir(d)) {
    if (std::strncmp(e->d_name, "rx-", 3) == 0) n++;
  }
  closedir(d);
  return n;
}

}  // namespace ustack::xdp
