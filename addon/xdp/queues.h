// How many receive queues an interface has, from sysfs
// (/sys/class/net/IF/queues/rx-N): 0 when that cannot be read.
#pragma once
#include <cstdint>
#include <string>

namespace ustack::xdp {

uint32_t rx_queue_count(const std::string& ifname);

}  // namespace ustack::xdp
