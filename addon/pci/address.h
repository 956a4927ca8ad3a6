// PCI addresses as sysfs names devices: DDDD:BB:DD.F (hex domain and bus,
// device 00-1f, function 0-7). Pure, no N-API, unit-tested by
// addon/e1000/ring_test.cc.
//
// Every sysfs path the driver opens is built from an address
// (/sys/bus/pci/devices/<addr>/resource0, .../config), so an address is
// checked before any path is: "0000:00:03.0/../../x" would otherwise lead to
// a file tree of the caller's choosing, opened and mapped as root.
#pragma once
#include <cstddef>
#include <string>

namespace ustack::pci {

constexpr size_t kAddressLength = 12;  // "0000:00:03.0"

inline int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// True when `a` is DDDD:BB:DD.F with hex digits (either case), device at
// most 0x1f and function at most 7; `canonical` (may be null) then gets it
// lower-cased, as sysfs spells it.
inline bool parse_address(const std::string& a, std::string* canonical) {
  if (a.size() != kAddressLength || a[4] != ':' || a[7] != ':' || a[10] != '.') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (hex_digit(a[i]) < 0) return false;
  }
  int device = hex_digit(a[8]) * 16 + hex_digit(a[9]);
  if (device > 0x1f || a[11] < '0' || a[11] > '7') return false;
  if (canonical != nullptr) {
    canonical->assign(a);
    for (char& c : *canonical) {
      if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return true;
}

}  // namespace ustack::pci
