// VirtioDevice: see virtio_device.h. Built with C++ exceptions disabled:
// every failure is thrown with ...ThrowAsJavaScriptException() followed by
// a return.
#include "napi/virtio_device.h"

#include <cstdio>
#include <string>
#include <vector>

#include "napi/errors.h"
#include "pci/address.h"
#include "registry/device_registry.h"

namespace ustack::napi {

namespace vio = ustack::virtio;

Napi::Function VirtioDevice::Define(Napi::Env env) {
  Properties props = {
      InstanceAccessor<&VirtioDevice::GetPool>("pool"),
      InstanceAccessor<&VirtioDevice::GetSlotSize>("slotSize"),
      InstanceAccessor<&VirtioDevice::GetSlotCount>("slotCount"),
      InstanceAccessor<&VirtioDevice::GetMac>("mac"),
      InstanceAccessor<&VirtioDevice::GetMacFromDevice>("macFromDevice"),
      InstanceAccessor<&VirtioDevice::GetModel>("model"),
      InstanceAccessor<&VirtioDevice::GetDeviceId>("deviceId"),
      InstanceAccessor<&VirtioDevice::GetMemory>("memory"),
      InstanceAccessor<&VirtioDevice::GetQueuePairs>("queuePairs"),
      InstanceAccessor<&VirtioDevice::GetMaxQueuePairs>("maxQueuePairs"),
      InstanceAccessor<&VirtioDevice::GetQueueSize>("queueSize"),
      InstanceAccessor<&VirtioDevice::GetFeatures>("features"),
      InstanceAccessor<&VirtioDevice::GetOfferedFeatures>("offeredFeatures"),
      InstanceAccessor<&VirtioDevice::GetOffloads>("offloads"),
      InstanceAccessor<&VirtioDevice::GetStatus>("deviceStatus"),
      InstanceMethod<&VirtioDevice::Start>("start"),
      InstanceMethod<&VirtioDevice::RxBurst>("rxBurst"),
      InstanceMethod<&VirtioDevice::TxBurst>("txBurst"),
      InstanceMethod<&VirtioDevice::TxReclaim>("txReclaim"),
      InstanceMethod<&VirtioDevice::TakeCompleted>("takeCompleted"),
      InstanceMethod<&VirtioDevice::TxOutstanding>("txOutstanding"),
      InstanceMethod<&VirtioDevice::SlotDeviceAddress>("slotDeviceAddress"),
      InstanceMethod<&VirtioDevice::LinkUp>("linkUp"),
      InstanceMethod<&VirtioDevice::SetMulticast>("setMulticast"),
      InstanceMethod<&VirtioDevice::ArmWake>("armWake"),
      InstanceMethod<&VirtioDevice::Stats>("stats"),
      InstanceMethod<&VirtioDevice::StopDma>("stopDma"),
      InstanceMethod<&VirtioDevice::Close>("close"),
  };
  AddWakeMethods(&props);  // setWakeCallback, ref, unref, hasRef
  return DefineClass(env, "VirtioDevice", props);
}

VirtioDevice::VirtioDevice(const Napi::CallbackInfo& info) : PolledDevice<VirtioDevice>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) {
    ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE", "new VirtioDevice(pci: string, access: 'uio' | 'vfio', options?)");
    return;
  }
  // The address becomes part of sysfs paths opened as root: only DDDD:BB:DD.F.
  std::string addr = info[0].As<Napi::String>().Utf8Value();
  if (!ustack::pci::parse_address(addr, &addr_)) {
    ThrowCoded(env, true, "ERR_INVALID_ARG_VALUE",
               "The argument 'pci' must be a PCI address DDDD:BB:DD.F (hex; device <= 1f, function <= 7). Received '" +
                   addr.substr(0, 64) + "'");
    return;
  }
  std::string access = info[1].As<Napi::String>().Utf8Value();
  if (access != "uio" && access != "vfio") {
    ThrowCoded(env, true, "ERR_INVALID_ARG_VALUE", "access must be 'uio' or 'vfio'");
    return;
  }
  vio::Options opts;
  if (info.Length() >= 3 && info[2].IsObject()) {
    Napi::Object o = info[2].As<Napi::Object>();
    bool bad = false;
    auto num = [&](const char* k, uint32_t* out) {
      Napi::Value v = o.Get(k);
      if (v.IsUndefined() || bad) return;
      double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
      if (!(d >= 0 && d <= 4294967295.0) || d != static_cast<double>(static_cast<uint32_t>(d))) {
        ThrowRange(env, std::string("options.") + k + " must be a non-negative integer");
        bad = true;
        return;
      }
      *out = static_cast<uint32_t>(d);
    };
    auto flag = [&](const char* k, bool* out) {
      Napi::Value v = o.Get(k);
      if (v.IsBoolean()) *out = v.As<Napi::Boolean>().Value();
    };
    uint32_t queues = opts.queue_pairs;
    num("queues", &queues);
    num("queueSize", &opts.queue_size);
    num("slotCount", &opts.slot_count);
    num("slotSize", &opts.slot_size);
    num("mtu", &opts.mtu);
    flag("txChecksum", &opts.tx_checksum);
    flag("tso", &opts.tso);
    // A shared pool (one NIC, many workers): a shard region's huge-page memfd,
    // the page its pool starts in, and where the workers' own slots begin.
    uint32_t pool_fd = 0xffffffffu, pool_page = 0;
    num("poolFd", &pool_fd);
    num("poolPage", &pool_page);
    num("foreignFrom", &opts.foreign_from);
    if (bad || env.IsExceptionPending()) return;
    if (pool_fd != 0xffffffffu) {
      if (pool_fd > 0x7fffffffu) {
        ThrowRange(env, "options.poolFd must be a file descriptor");
        return;
      }
      opts.pool_fd = static_cast<int>(pool_fd);
      opts.pool_offset = static_cast<uint64_t>(pool_page) * 4096;
    }
    if (queues < 1 || queues > vio::kMaxQueuePairs) {
      ThrowRange(env, "options.queues must be in [1, " + std::to_string(vio::kMaxQueuePairs) + "], got " + std::to_string(queues));
      return;
    }
    opts.queue_pairs = static_cast<uint16_t>(queues);
  }
  ustack::Error err;
  int rc = dev_.open(addr_, access == "vfio" ? ustack::pci::Access::kVfio : ustack::pci::Access::kUio, opts, &err);
  if (rc < 0) {
    ThrowError(env, err, addr_);
    return;
  }
  vio::supported_device(0x1af4, dev_.device_id(), &model_);
  // Stopped when this environment ends (a worker exits) or the process does.
  ustack::registry::devices().add(static_cast<napi_env>(env), &dev_,
                                  [](void* d) { static_cast<vio::Device*>(d)->stop_dma(); });
  // Without a poll on the interrupt fd there is no wake-up: the poll loop spins.
  InitPoll(env, dev_.irq_fd());
}

bool VirtioDevice::CheckOpen(Napi::Env env) {
  if (dev_.is_open()) return true;
  ThrowCoded(env, false, "ERR_USTACK_CLOSED", "VirtioDevice: device is closed");
  return false;
}

// The pool as one external ArrayBuffer over the DMA memory, made once (see
// E1000Device::GetPool: a view hold keeps the addresses mapped, to zero
// pages after close, while any ArrayBuffer sharing the memory lives).
Napi::Value VirtioDevice::GetPool(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!pool_ref_.IsEmpty()) return pool_ref_.Value();
  if (!CheckOpen(env)) return env.Undefined();
  return ExposePool(env, pool_ref_, dev_.pool(), dev_.pool_bytes(), "VirtioDevice: the DMA pool");
}

Napi::Value VirtioDevice::GetSlotSize(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), dev_.slot_size()); }
Napi::Value VirtioDevice::GetSlotCount(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), dev_.slot_count()); }

Napi::Value VirtioDevice::GetMac(const Napi::CallbackInfo& info) {
  const uint8_t* m = dev_.mac();
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return Napi::String::New(info.Env(), buf);
}

Napi::Value VirtioDevice::GetMacFromDevice(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), dev_.mac_from_device()); }
Napi::Value VirtioDevice::GetModel(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), model_); }
Napi::Value VirtioDevice::GetDeviceId(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), dev_.device_id()); }

Napi::Value VirtioDevice::GetMemory(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), dev_.vfio() && !dev_.hugetlb() ? "vfio-iommu" : "hugetlbfs");
}

Napi::Value VirtioDevice::GetQueuePairs(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), dev_.queue_pairs()); }
Napi::Value VirtioDevice::GetMaxQueuePairs(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), dev_.max_queue_pairs()); }
Napi::Value VirtioDevice::GetQueueSize(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), dev_.queue_size()); }

Napi::Value VirtioDevice::GetFeatures(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), vio::feature_names(dev_.features()));
}

Napi::Value VirtioDevice::GetOfferedFeatures(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), vio::feature_names(dev_.offered()));
}

Napi::Value VirtioDevice::GetOffloads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("txChecksum", Napi::Boolean::New(env, dev_.tx_csum()));
  o.Set("tso", Napi::Boolean::New(env, dev_.tso()));
  o.Set("rxChecksum", Napi::Boolean::New(env, dev_.rx_csum()));
  o.Set("rxGso", Napi::Boolean::New(env, dev_.rx_gso()));
  return o;
}

Napi::Value VirtioDevice::GetStatus(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), dev_.status()); }

// start(freeStack: Uint32Array)
Napi::Value VirtioDevice::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  uint32_t* data = nullptr;
  size_t len = 0;
  if (info.Length() < 1 || !GetU32Array(env, info[0], &data, &len, "freeStack")) return env.Undefined();
  if (len < static_cast<size_t>(dev_.slot_count()) + 1 || data[0] > dev_.slot_count()) {
    ThrowRange(env, "freeStack must hold slotCount + 1 entries and a valid count");
    return env.Undefined();
  }
  if (!free_stack_.Hold(env, info[0], len * sizeof(uint32_t), "freeStack")) return env.Undefined();
  ustack::Error err;
  if (dev_.start(data, static_cast<uint32_t>(len - 1), &err) < 0) ThrowError(env, err, addr_);
  return env.Undefined();
}

// The driver keeps the free stack's address from start() on (see E1000Device::FreeStackUsable).
bool VirtioDevice::FreeStackUsable(Napi::Env env) {
  if (free_stack_.IsEmpty() || free_stack_.Usable(env)) return true;
  dev_.stop_dma();
  free_stack_.Get(env, "VirtioDevice: the free stack");  // throws ERR_USTACK_BUFFER_DETACHED
  return false;
}

bool VirtioDevice::QueueArg(const Napi::CallbackInfo& info, size_t i, int* queue) {
  *queue = -1;
  if (info.Length() <= i || info[i].IsUndefined() || info[i].IsNull()) return true;
  double q = info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : -2;
  if (q == -1) return true;
  if (!(q >= 0 && q < dev_.queue_pairs()) || q != static_cast<double>(static_cast<int>(q))) {
    ThrowRange(info.Env(), "queue must be -1 (all) or an integer in [0, " + std::to_string(dev_.queue_pairs()) + ")");
    return false;
  }
  *queue = static_cast<int>(q);
  return true;
}

// rxBurst(slots, lens, max, flags?, queue?): flags (Uint8Array with room for
// max, or undefined/null: partial checksums are then completed); queue -1
// or absent: every receive queue.
Napi::Value VirtioDevice::RxBurst(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!burst_.Read(info, BurstArrays::Inputs::kNone)) return env.Undefined();
  int queue;
  if (!QueueArg(info, 4, &queue)) return env.Undefined();
  uint8_t* flags = nullptr;
  if (info.Length() >= 4 && !info[3].IsUndefined() && !info[3].IsNull()) {
    napi_typedarray_type type;
    size_t len = 0;
    void* ptr = nullptr;
    if (napi_get_typedarray_info(env, info[3], &type, &len, &ptr, nullptr, nullptr) != napi_ok || type != napi_uint8_array) {
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (!pending) ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE", "The \"flags\" argument must be a Uint8Array");
      return env.Undefined();
    }
    if (len < burst_.count()) {
      ThrowRange(env, "flags holds " + std::to_string(len) + " bytes, need " + std::to_string(burst_.count()));
      return env.Undefined();
    }
    flags = static_cast<uint8_t*>(ptr);
  }
  if (!dev_.is_open()) return Napi::Number::New(env, 0);
  if (!FreeStackUsable(env)) return env.Undefined();
  return Napi::Number::New(env, dev_.rx_burst(queue, burst_.out_slots(), burst_.out_lens(), flags, burst_.count()));
}

// txBurst(slots, lens, n, queue?): the slots and lengths are copied once
// (BurstArrays) and the driver reads only the copies; queue -1 or absent:
// per frame, a hash of its flow.
Napi::Value VirtioDevice::TxBurst(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!burst_.Read(info, BurstArrays::Inputs::kSlotsAndLens)) return env.Undefined();
  int queue;
  if (!QueueArg(info, 3, &queue)) return env.Undefined();
  if (!dev_.is_open()) return Napi::Number::New(env, 0);
  if (!FreeStackUsable(env)) return env.Undefined();
  if (!CheckTxBurst(env, dev_.slot_count(), 14, dev_.slot_size(), "slotSize")) return env.Undefined();
  vio::TxRefusal refusal;
  uint32_t sent = dev_.tx_burst(queue, burst_.slots(), burst_.lens(), burst_.count(), &refusal);
  if (refusal.why != ustack::slots::Refusal::kNone) {
    if (refusal.range()) ThrowRange(env, refusal.message());
    else ThrowCoded(env, false, refusal.code(), refusal.message());
    return env.Undefined();
  }
  return Napi::Number::New(env, sent);
}

Napi::Value VirtioDevice::TxReclaim(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!dev_.is_open()) return Napi::Number::New(env, 0);
  if (!FreeStackUsable(env)) return env.Undefined();
  return Napi::Number::New(env, dev_.tx_reclaim());
}

// takeCompleted(slots: Uint32Array): foreign slots (options.foreignFrom)
// whose transmit completed, written into slots; returns how many.
Napi::Value VirtioDevice::TakeCompleted(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t* data = nullptr;
  size_t len = 0;
  if (info.Length() < 1 || !GetU32Array(env, info[0], &data, &len, "slots")) return env.Undefined();
  return Napi::Number::New(env, dev_.take_completed(data, len > 0xffffffffu ? 0xffffffffu : static_cast<uint32_t>(len)));
}

// txOutstanding(): frames on the transmit queues the device has not given back.
Napi::Value VirtioDevice::TxOutstanding(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), dev_.is_open() ? dev_.tx_outstanding() : 0);
}

// slotDeviceAddress(slot): the address the device reads and writes slot
// `slot` at (a physical address under UIO), as a hex string; '' when out of range.
Napi::Value VirtioDevice::SlotDeviceAddress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double d = info.Length() >= 1 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  if (!dev_.is_open() || !(d >= 0 && d < dev_.slot_count()) || d != static_cast<double>(static_cast<uint32_t>(d))) {
    return Napi::String::New(env, "");
  }
  char buf[24];
  std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(dev_.slot_device_addr(static_cast<uint32_t>(d))));
  return Napi::String::New(env, buf);
}

Napi::Value VirtioDevice::LinkUp(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), dev_.link_up()); }

// setMulticast(macs: Uint8Array): the multicast groups to receive
// (ReadMulticastGroups): the device's receive filter.
Napi::Value VirtioDevice::SetMulticast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  std::vector<uint8_t> macs;
  if (!ReadMulticastGroups(info, &macs)) return env.Undefined();
  int rc = dev_.set_multicast(macs.data(), static_cast<uint32_t>(macs.size() / 6));
  if (rc < 0) ThrowSystem(env, -rc, "VIRTIO_NET_CTRL_MAC_TABLE_SET", addr_);
  return env.Undefined();
}

// armWake(): true when a frame is already waiting (no need to sleep); false
// when armed (or after close; without an interrupt fd: true, the caller polls).
Napi::Value VirtioDevice::ArmWake(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!dev_.is_open()) return Napi::Boolean::New(env, false);
  if (!HasPoll()) return Napi::Boolean::New(env, true);
  int rc = Arm();
  if (rc < 0) {
    ThrowSystem(env, -rc, "uv_poll_start", addr_);
    return env.Undefined();
  }
  return Napi::Boolean::New(env, dev_.arm_irq());
}

Napi::Value VirtioDevice::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  auto set = [&](const std::string& k, uint64_t v) { o.Set(k, Napi::Number::New(env, static_cast<double>(v))); };
  vio::RxCounters rx;
  vio::TxCounters tx;
  if (dev_.is_open()) {
    for (uint16_t q = 0; q < dev_.queue_pairs(); q++) {
      const vio::RxCounters& r = dev_.rx_counters(q);
      const vio::TxCounters& t = dev_.tx_counters(q);
      std::string p = "q" + std::to_string(q);
      set(p + "RxFrames", r.frames);
      set(p + "RxBytes", r.bytes);
      set(p + "TxFrames", t.frames);
      set(p + "TxBytes", t.bytes);
      rx.frames += r.frames, rx.bytes += r.bytes, rx.merged += r.merged, rx.too_long += r.too_long;
      rx.bad_length += r.bad_length, rx.no_slot += r.no_slot, rx.gso += r.gso, rx.csum_partial += r.csum_partial;
      rx.csum_valid += r.csum_valid, rx.csum_completed += r.csum_completed, rx.notifies += r.notifies;
      tx.frames += t.frames, tx.bytes += t.bytes, tx.ring_full += t.ring_full, tx.gso += t.gso, tx.csum += t.csum;
      tx.notifies += t.notifies;
    }
  }
  set("rxFrames", rx.frames);
  set("rxBytes", rx.bytes);
  set("rxMerged", rx.merged);
  set("rxTooLong", rx.too_long);
  set("rxBadLength", rx.bad_length);
  set("rxNoSlot", rx.no_slot);
  set("rxGsoFrames", rx.gso);
  set("rxCsumPartial", rx.csum_partial);
  set("rxCsumValid", rx.csum_valid);
  set("rxCsumCompleted", rx.csum_completed);
  set("rxNotifies", rx.notifies);
  set("txFrames", tx.frames);
  set("txBytes", tx.bytes);
  set("txRingFull", tx.ring_full);
  set("txGsoFrames", tx.gso);
  set("txCsumOffload", tx.csum);
  set("txNotifies", tx.notifies);
  const vio::Counters& c = dev_.counters();
  set("txRefused", c.tx_refused);
  set("deviceFaults", c.device_faults);
  set("ctrlCommands", c.ctrl_commands);
  set("ctrlFailures", c.ctrl_failures);
  set("irqs", c.irqs);
  set("wakeErrors", wake_errors());
  const ustack::slots::Faults& sf = dev_.slot_faults();
  set("freeStackBadIndex", sf.bad_index);
  set("freeStackInRing", sf.in_ring);
  set("freeStackDuplicate", sf.duplicate);
  set("freeStackCountClamped", sf.count_clamped);
  set("freeStackPushRefused", sf.push_refused);
  set("queuePairs", dev_.queue_pairs());
  set("rxPosted", dev_.is_open() ? dev_.rx_posted() : 0);
  set("sharedPool", dev_.shared_pool() ? 1 : 0);
  // The negotiated feature bits (virtio/features.h), as two 32-bit numbers.
  set("featuresLow", dev_.features() & 0xffffffffu);
  set("featuresHigh", dev_.features() >> 32);
  o.Set("linkUp", Napi::Number::New(env, dev_.link_up() ? 1 : 0));
  return o;
}

Napi::Value VirtioDevice::StopDma(const Napi::CallbackInfo& info) {
  dev_.stop_dma();
  return info.Env().Undefined();
}

// close(): resets the device (DMA stops) and clears bus mastering, detaches
// the pool ArrayBuffer, then frees the DMA memory. Idempotent.
Napi::Value VirtioDevice::Close(const Napi::CallbackInfo& info) {
  dev_.stop_dma();
  if (!pool_ref_.IsEmpty()) {
    Napi::ArrayBuffer ab = pool_ref_.Value();
    if (!ab.IsDetached()) ab.Detach();
    pool_ref_.Reset();
  }
  free_stack_.Reset();
  ResetWakeCallback();
  CloseAll();
  return info.Env().Undefined();
}

void VirtioDevice::CloseAll() {
  ClosePoll();
  ustack::registry::devices().remove(&dev_);
  dev_.close();
}

Napi::Value VirtioSupportedDevice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) return env.Null();
  const char* model = nullptr;
  if (!vio::supported_device(static_cast<uint16_t>(info[0].As<Napi::Number>().Uint32Value()),
                             static_cast<uint16_t>(info[1].As<Napi::Number>().Uint32Value()), &model)) {
    return env.Null();
  }
  return Napi::String::New(env, model);
}

}  // namespace ustack::napi
