// Feature bits of a virtio-net device and what this driver accepts of them
// (virtio 1.x 5.1.3, 6). Pure: no device; transport_test.cc checks it.
//
// Accepted when offered: VERSION_1 (required: a device without it is
// legacy-only, which this driver refuses), MAC, STATUS, MRG_RXBUF,
// ORDER_PLATFORM, ACCESS_PLATFORM (the device then translates its DMA
// through the platform's IOMMU: VFIO's IOVAs work; a VFIO device without it
// bypasses the IOMMU and is refused), CTRL_VQ; CSUM and HOST_TSO4 (+
// HOST_ECN) when the caller wants transmit checksum offload and TSO,
// GUEST_CSUM and GUEST_TSO4 (+ GUEST_ECN) likewise for receive; MQ when
// more than one queue pair is asked for (which needs CTRL_VQ). Never
// accepted: packed rings, in-order, event index, indirect descriptors,
// notification data, RSS/hash reports, the other offloads.
#pragma once
#include <cstdint>
#include <string>

#include "common/error.h"

namespace ustack::virtio {

namespace feature {
constexpr uint64_t kCsum = 1ull << 0;
constexpr uint64_t kGuestCsum = 1ull << 1;
constexpr uint64_t kMtu = 1ull << 3;
constexpr uint64_t kMac = 1ull << 5;
constexpr uint64_t kGuestTso4 = 1ull << 7;
constexpr uint64_t kGuestEcn = 1ull << 9;
constexpr uint64_t kHostTso4 = 1ull << 11;
constexpr uint64_t kHostEcn = 1ull << 13;
constexpr uint64_t kMrgRxbuf = 1ull << 15;
constexpr uint64_t kStatus = 1ull << 16;
constexpr uint64_t kCtrlVq = 1ull << 17;
constexpr uint64_t kCtrlRx = 1ull << 18;
constexpr uint64_t kMq = 1ull << 22;
constexpr uint64_t kRingIndirectDesc = 1ull << 28;
constexpr uint64_t kRingEventIdx = 1ull << 29;
constexpr uint64_t kVersion1 = 1ull << 32;
constexpr uint64_t kAccessPlatform = 1ull << 33;
constexpr uint64_t kRingPacked = 1ull << 34;
constexpr uint64_t kInOrder = 1ull << 35;
constexpr uint64_t kOrderPlatform = 1ull << 36;
}  // namespace feature

// What the caller asks for.
struct Wants {
  uint16_t queue_pairs = 1;
  bool tx_checksum = true;
  bool tso = true;
  bool vfio_iommu = false;  // DMA through VFIO's IOMMU mapping (IOVAs)
};

// The features to accept of `offered`, or -errno with *err saying why the
// device cannot be driven (legacy-only, multiqueue asked of a device
// without it, VFIO with a device that bypasses the IOMMU).
inline int negotiate(uint64_t offered, const Wants& w, uint64_t* accepted, Error* err) {
  using namespace feature;
  if (!(offered & kVersion1)) {
    return fail(err, "open", ENOTSUP, "ERR_USTACK_UNSUPPORTED_DEVICE",
                "legacy-only virtio device: it does not offer VIRTIO_F_VERSION_1 (this driver speaks virtio 1.x; "
                "QEMU: -device virtio-net-pci,disable-legacy=on, or leave disable-modern off)");
  }
  if (w.vfio_iommu && !(offered & kAccessPlatform)) {
    return fail(err, "open", ENOTSUP, "ERR_USTACK_UNSUPPORTED_DEVICE",
                "the device does not offer VIRTIO_F_ACCESS_PLATFORM: its DMA bypasses the IOMMU, so VFIO's "
                "IOMMU mapping cannot reach it (QEMU: iommu_platform=on), or use UIO (access=uio)");
  }
  uint64_t a = kVersion1 | (offered & (kMac | kStatus | kMrgRxbuf | kOrderPlatform | kAccessPlatform | kCtrlVq));
  // CTRL_RX: the receive filter (promiscuous off, the multicast MAC table: Device::set_multicast).
  if ((offered & kCtrlVq) && (offered & kCtrlRx)) a |= kCtrlRx;
  if (w.tx_checksum && (offered & kCsum)) {
    a |= kCsum;
    if (w.tso && (offered & kHostTso4)) {
      a |= kHostTso4;
      if (offered & kHostEcn) a |= kHostEcn;
    }
  }
  if (offered & kGuestCsum) {
    a |= kGuestCsum;
    if (w.tso && (offered & kGuestTso4)) {
      a |= kGuestTso4;
      if (offered & kGuestEcn) a |= kGuestEcn;
    }
  }
  if (w.queue_pairs > 1) {
    if (!(offered & kMq) || !(offered & kCtrlVq)) {
      return fail(err, "open", ERANGE, "ERR_OUT_OF_RANGE",
                  "queues=" + std::to_string(w.queue_pairs) +
                      " is out of range: the device has one queue pair (no VIRTIO_NET_F_MQ with a control queue; "
                      "QEMU: mq=on with a multi-queue netdev, e.g. -netdev tap,queues=N)");
    }
    a |= kMq;
  }
  *accepted = a;
  return 0;
}

// Names of the accepted features, for stats and errors ("VERSION_1 MAC ...").
inline std::string feature_names(uint64_t f) {
  using namespace feature;
  static const struct {
    uint64_t bit;
    const char* name;
  } kNames[] = {{kCsum, "CSUM"},         {kGuestCsum, "GUEST_CSUM"}, {kMtu, "MTU"},
                {kMac, "MAC"},           {kGuestTso4, "GUEST_TSO4"}, {kGuestEcn, "GUEST_ECN"},
                {kHostTso4, "HOST_TSO4"}, {kHostEcn, "HOST_ECN"},    {kMrgRxbuf, "MRG_RXBUF"},
                {kStatus, "STATUS"},     {kCtrlVq, "CTRL_VQ"},       {kCtrlRx, "CTRL_RX"},
                {kMq, "MQ"},             {kRingIndirectDesc, "RING_INDIRECT_DESC"},
                {kRingEventIdx, "RING_EVENT_IDX"}, {kVersion1, "VERSION_1"},
                {kAccessPlatform, "ACCESS_PLATFORM"}, {kRingPacked, "RING_PACKED"},
                {kInOrder, "IN_ORDER"},  {kOrderPlatform, "ORDER_PLATFORM"}};
  std::string s;
  for (const auto& n : kNames) {
    if (f & n.bit) {
      if (!s.empty()) s += ' ';
      s += n.name;
    }
  }
  return s;
}

}  // namespace ustack::virtio
