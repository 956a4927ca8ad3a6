// Unit tests for the virtio-net driver's pure parts: the capability walk of
// a modern virtio PCI device (virtio/transport.h parse_caps) over made-up
// configuration spaces -- QEMU's layout, a legacy-only device, loops,
// pointers into the header, windows on BARs that do not exist, short notify
// capabilities -- the feature negotiation (virtio/features.h) and the
// transmit queue choice per flow (virtio/virtio_net.h flow_queue). Built and
// run by scripts/test-native.sh; prints "N passed, N failed".
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "common/test_check.h"
#include "virtio/features.h"
#include "virtio/transport.h"
#include "virtio/virtio_net.h"

using namespace ustack::virtio;
namespace f = ustack::virtio::feature;

namespace {

struct Cfg {
  uint8_t b[256];
  uint8_t last = 0;  // the last capability added (its next pointer is patched)
  Cfg() {
    std::memset(b, 0, sizeof b);
    b[0] = 0xf4, b[1] = 0x1a, b[2] = 0x41, b[3] = 0x10;  // 1af4:1041
    b[0x06] = 0x10;                                      // capability list
  }
  void put32(uint8_t at, uint32_t v) {
    for (int i = 0; i < 4; i++) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
  }
  void link(uint8_t at) {
    if (last == 0) b[0x34] = at;
    else b[last + 1] = at;
    last = at;
  }
  void vendor(uint8_t at, uint8_t type, uint8_t bar, uint32_t off, uint32_t len, uint8_t cap_len = 16, uint32_t mult = 4) {
    b[at] = kCapVendor;
    b[at + 2] = cap_len;
    b[at + 3] = type;
    b[at + 4] = bar;
    put32(at + 8, off);
    put32(at + 12, len);
    if (type == kCfgNotify) put32(at + 16, mult);
    link(at);
  }
  void other(uint8_t at, uint8_t id) {
    b[at] = id;
    link(at);
  }
};

// QEMU's virtio-net-pci, disable-legacy=on: MSI-X, then the vendor
// capabilities for BAR4 (common 0x0, ISR 0x1000, device 0x2000, notify
// 0x3000 with multiplier 4), and a PCI-config-access one (type 5).
Cfg qemu() {
  Cfg c;
  c.other(0x98, kCapMsix);
  c.vendor(0x84, 5, 0, 0, 0, 20);
  c.vendor(0x70, kCfgNotify, 4, 0x3000, 0x1000, 20, 4);
  c.vendor(0x60, kCfgDevice, 4, 0x2000, 0x1000);
  c.vendor(0x50, kCfgIsr, 4, 0x1000, 0x1000);
  c.vendor(0x40, kCfgCommon, 4, 0x0, 0x1000);
  return c;
}

void test_caps() {
  Cfg q = qemu();
  Caps c = parse_caps(q.b);
  CHECK(c.modern() && c.msix && !c.looped && c.any_vendor);
  CHECK(c.common.bar == 4 && c.common.offset == 0 && c.common.length == 0x1000);
  CHECK(c.isr.offset == 0x1000 && c.device.offset == 0x2000 && c.notify.offset == 0x3000);
  CHECK(c.notify_multiplier == 4);
  // Legacy-only: no capabilities at all, or none of virtio's.
  Cfg legacy;
  legacy.b[0x06] = 0;
  CHECK(!parse_caps(legacy.b).modern());
  Cfg msix_only;
  msix_only.other(0x40, kCapMsix);
  c = parse_caps(msix_only.b);
  CHECK(!c.modern() && c.msix && !c.any_vendor);
  // A loop: cut short, what was found before it kept.
  Cfg loop = qemu();
  loop.b[0x41] = 0x98;  // common's next points back to the MSI-X capability
  c = parse_caps(loop.b);
  CHECK(c.looped && c.modern());
  // A pointer into the 64-byte header, or to the very end.
  Cfg header = qemu();
  header.b[0x34] = 0x10;
  c = parse_caps(header.b);
  CHECK(c.looped && !c.modern());
  Cfg end;
  end.b[0x34] = 0xfe;  // masked to 0xfc: reads inside the space
  end.b[0xfc] = kCapVendor;
  c = parse_caps(end.b);
  CHECK(!c.modern());
  // The first window of a type wins; a window on BAR 6+ is skipped.
  Cfg two = qemu();
  two.vendor(0xb0, kCfgCommon, 2, 0x100, 0x1000);
  c = parse_caps(two.b);
  CHECK(c.common.bar == 4);
  Cfg bad_bar;
  bad_bar.vendor(0x40, kCfgCommon, 6, 0, 0x1000);
  bad_bar.vendor(0x50, kCfgCommon, 2, 0, 0x1000);
  c = parse_caps(bad_bar.b);
  CHECK(c.common.found && c.common.bar == 2);
  // A notify capability shorter than 20 bytes has no multiplier: not used.
  Cfg short_notify;
  short_notify.vendor(0x40, kCfgCommon, 4, 0, 0x1000);
  short_notify.vendor(0x50, kCfgIsr, 4, 0x1000, 0x1000);
  short_notify.vendor(0x60, kCfgNotify, 4, 0x3000, 0x1000, 16);
  CHECK(!parse_caps(short_notify.b).modern());
  // A vendor capability claiming fewer than 16 bytes is not a virtio one.
  Cfg tiny;
  tiny.vendor(0x40, kCfgCommon, 4, 0, 0x1000, 8);
  CHECK(!parse_caps(tiny.b).common.found);
  // Arbitrary bytes never read past the space (the walk is bounded).
  uint32_t rng = 7;
  int ok = 0;
  for (int i = 0; i < 20000; i++) {
    uint8_t r[256];
    for (auto& x : r) {
      rng = rng * 1103515245u + 12345u;
      x = static_cast<uint8_t>(rng >> 16);
    }
    Caps rc = parse_caps(r);
    if (!rc.notify.found || rc.notify.bar <= 5) ok++;
  }
  CHECK(ok == 20000);
}

void test_negotiate() {
  using ustack::Error;
  const uint64_t qemu_tap = f::kCsum | f::kGuestCsum | f::kMtu | f::kMac | f::kGuestTso4 | f::kGuestEcn | f::kHostTso4 |
                            f::kHostEcn | f::kMrgRxbuf | f::kStatus | f::kCtrlVq | f::kCtrlRx | f::kMq |
                            f::kRingIndirectDesc | f::kRingEventIdx | f::kVersion1 | f::kAccessPlatform;
  uint64_t a = 0;
  Error e;
  Wants w;
  CHECK(negotiate(qemu_tap, w, &a, &e) == 0);
  CHECK(a == (f::kVersion1 | f::kMac | f::kStatus | f::kMrgRxbuf | f::kCtrlVq | f::kCtrlRx | f::kAccessPlatform | f::kCsum |
              f::kHostTso4 | f::kHostEcn | f::kGuestCsum | f::kGuestTso4 | f::kGuestEcn));
  CHECK((a & (f::kRingEventIdx | f::kRingIndirectDesc | f::kMq | f::kMtu)) == 0);
  // CTRL_RX (the receive filter) only with a control queue to send its commands on.
  CHECK(negotiate(qemu_tap & ~f::kCtrlVq, w, &a, &e) == 0 && !(a & (f::kCtrlRx | f::kCtrlVq)));
  // Two pairs: MQ too.
  w.queue_pairs = 2;
  CHECK(negotiate(qemu_tap, w, &a, &e) == 0 && (a & f::kMq));
  // tso off: no TSO either way; checksum off: no CSUM, no HOST_TSO4.
  w = Wants();
  w.tso = false;
  CHECK(negotiate(qemu_tap, w, &a, &e) == 0 && !(a & (f::kHostTso4 | f::kGuestTso4 | f::kHostEcn | f::kGuestEcn)) && (a & f::kCsum));
  w.tx_checksum = false;
  CHECK(negotiate(qemu_tap, w, &a, &e) == 0 && !(a & (f::kCsum | f::kHostTso4)) && (a & f::kGuestCsum));
  // QEMU with slirp (no vnet header on the peer): no offloads offered, none taken.
  const uint64_t qemu_user = f::kMac | f::kMrgRxbuf | f::kStatus | f::kCtrlVq | f::kCtrlRx | f::kVersion1;
  w = Wants();
  CHECK(negotiate(qemu_user, w, &a, &e) == 0 && a == (f::kVersion1 | f::kMac | f::kMrgRxbuf | f::kStatus | f::kCtrlVq | f::kCtrlRx));
  // HOST_TSO4 without CSUM offered: not taken (it depends on CSUM).
  CHECK(negotiate(f::kVersion1 | f::kHostTso4, w, &a, &e) == 0 && a == f::kVersion1);
  // Legacy-only: refused, saying so.
  e = Error();
  CHECK(negotiate(qemu_tap & ~f::kVersion1, w, &a, &e) < 0 && e.code == "ERR_USTACK_UNSUPPORTED_DEVICE");
  CHECK(e.message.find("legacy-only") != std::string::npos);
  // Several pairs of a device without MQ (or without a control queue): out of range.
  w.queue_pairs = 2;
  e = Error();
  CHECK(negotiate(qemu_user, w, &a, &e) < 0 && e.code == "ERR_OUT_OF_RANGE" && e.message.find("queues=2") != std::string::npos);
  CHECK(negotiate(f::kVersion1 | f::kMq, w, &a, &e) < 0);
  // VFIO behind an IOMMU needs ACCESS_PLATFORM.
  w = Wants();
  w.vfio_iommu = true;
  e = Error();
  CHECK(negotiate(qemu_user, w, &a, &e) < 0 && e.message.find("ACCESS_PLATFORM") != std::string::npos);
  CHECK(negotiate(qemu_user | f::kAccessPlatform, w, &a, &e) == 0 && (a & f::kAccessPlatform));
  CHECK(feature_names(f::kVersion1 | f::kMac) == "MAC VERSION_1");
}

void test_flow_queue() {
  std::vector<uint8_t> fr(60, 0);
  fr[12] = 0x08;
  fr[14] = 0x45;
  fr[23] = 6;
  CHECK(flow_queue(fr.data(), 60, 1) == 0);
  int seen[4] = {0, 0, 0, 0};
  for (uint32_t port = 1000; port < 1400; port++) {
    fr[34] = static_cast<uint8_t>(port >> 8);
    fr[35] = static_cast<uint8_t>(port);
    uint16_t q = flow_queue(fr.data(), 60, 4);
    if (q < 4) seen[q]++;
    if (flow_queue(fr.data(), 60, 4) != q) seen[0] = -1000;  // the same flow, the same queue
  }
  CHECK(seen[0] > 50 && seen[1] > 50 && seen[2] > 50 && seen[3] > 50);
  // Not IPv4, or too short: queue 0.
  fr[12] = 0x86;
  fr[13] = 0xdd;
  CHECK(flow_queue(fr.data(), 60, 4) == 0);
  CHECK(flow_queue(fr.data(), 20, 4) == 0);
  const char* model = nullptr;
  CHECK(supported_device(0x1af4, 0x1041, &model) && std::strcmp(model, "virtio-net") == 0);
  CHECK(supported_device(0x1af4, 0x1000, &model));
  CHECK(!supported_device(0x1af4, 0x1009, &model) && !supported_device(0x8086, 0x1041, &model));
}

}  // namespace

int main() {
  test_caps();
  test_negotiate();
  test_flow_queue();
  std::printf("virtio transport: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
