// E1000Device: see e1000_device.h. Built with C++ exceptions disabled: every
// failure is thrown with ...ThrowAsJavaScriptException() followed by a return.
#include "napi/e1000_device.h"

#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "e1000/regs.h"
#include "napi/errors.h"
#include "pci/address.h"
#include "registry/device_registry.h"

namespace ustack::napi {

namespace {

uint64_t monotonic_ns() {
  struct timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

// Adds the time from its construction to its destruction to one of the
// device's native-time sums, when timing is on (see e1000_device.h).
class NativeTimer {
 public:
  NativeTimer(E1000Device* d, int which) : d_(d), which_(which), t0_(d->timing_ ? monotonic_ns() : 0) {}
  ~NativeTimer() {
    if (!d_->timing_) return;
    d_->native_ns_[which_] += monotonic_ns() - t0_;
    d_->native_calls_[which_]++;
  }
  // Books the call under another sum (an rxBurst that found no frame).
  void Rebook(int which) { which_ = which; }
  NativeTimer(const NativeTimer&) = delete;
  NativeTimer& operator=(const NativeTimer&) = delete;

 private:
  E1000Device* d_;
  int which_;
  uint64_t t0_;
};

Napi::Function E1000Device::Define(Napi::Env env) {
  Properties props = {
      InstanceAccessor<&E1000Device::GetPool>("pool"),
      InstanceAccessor<&E1000Device::GetSlotSize>("slotSize"),
      InstanceAccessor<&E1000Device::GetTso>("tso"),
      InstanceAccessor<&E1000Device::GetSlotCount>("slotCount"),
      InstanceAccessor<&E1000Device::GetMac>("mac"),
      InstanceAccessor<&E1000Device::GetModel>("model"),
      InstanceAccessor<&E1000Device::GetDeviceId>("deviceId"),
      InstanceAccessor<&E1000Device::GetMemory>("memory"),
      InstanceMethod<&E1000Device::Start>("start"),
      InstanceMethod<&E1000Device::RxBurst>("rxBurst"),
      InstanceMethod<&E1000Device::TxBurst>("txBurst"),
      InstanceMethod<&E1000Device::TxReclaim>("txReclaim"),
      InstanceMethod<&E1000Device::LinkUp>("linkUp"),
      InstanceMethod<&E1000Device::ReadReg>("readReg"),
      InstanceMethod<&E1000Device::SetMulticast>("setMulticast"),
      InstanceMethod<&E1000Device::ArmWake>("armWake"),
      InstanceMethod<&E1000Device::Stats>("stats"),
      InstanceMethod<&E1000Device::StopDma>("stopDma"),
      InstanceMethod<&E1000Device::Close>("close"),
  };
  AddWakeMethods(&props);  // setWakeCallback, ref, unref, hasRef
  return DefineClass(env, "E1000Device", props);
}

E1000Device::E1000Device(const Napi::CallbackInfo& info) : PolledDevice<E1000Device>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) {
    ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE", "new E1000Device(pci: string, access: 'uio' | 'vfio', options?)");
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
  ustack::e1000::Options opts;
  if (info.Length() >= 3 && info[2].IsObject()) {
    Napi::Object o = info[2].As<Napi::Object>();
    auto num = [&](const char* k, uint32_t* out) {
      Napi::Value v = o.Get(k);
      if (v.IsNumber()) *out = v.As<Napi::Number>().Uint32Value();
    };
    auto flag = [&](const char* k, bool* out) {
      Napi::Value v = o.Get(k);
      if (v.IsBoolean()) *out = v.As<Napi::Boolean>().Value();
    };
    num("rxRing", &opts.rx_ring);
    num("txRing", &opts.tx_ring);
    num("slotCount", &opts.slot_count);
    num("slotSize", &opts.slot_size);
    num("mtu", &opts.mtu);
    flag("loopback", &opts.loopback);
    flag("promiscuous", &opts.promiscuous);
    flag("txChecksum", &opts.tx_checksum);
    flag("tso", &opts.tso);
    if (env.IsExceptionPending()) return;
  }
  ustack::Error err;
  int rc = dev_.open(addr_, access == "vfio" ? ustack::pci::Access::kVfio : ustack::pci::Access::kUio, opts, &err);
  if (rc < 0) {
    ThrowError(env, err, addr_);
    return;
  }
  // Stopped when this environment ends (a worker exits) or the process does.
  ustack::registry::devices().add(static_cast<napi_env>(env), &dev_,
                                  [](void* d) { static_cast<ustack::e1000::Device*>(d)->stop_dma(); });
  // Without a poll on the interrupt fd there is no wake-up: the poll loop spins.
  InitPoll(env, dev_.irq_fd());
  const char* timing = std::getenv("USTACK_E1000_TIMING");
  timing_ = timing != nullptr && std::strcmp(timing, "1") == 0;
}

bool E1000Device::CheckOpen(Napi::Env env) {
  if (dev_.is_open()) return true;
  ThrowCoded(env, false, "ERR_USTACK_CLOSED", "E1000Device: device is closed");
  return false;
}

// The pool as one external ArrayBuffer over the DMA memory, made once. It
// can outlive the device (held by JavaScript after close(), or moved into a
// new ArrayBuffer by ArrayBuffer.prototype.transfer(), which close() cannot
// detach): its finalizer, which V8 runs when the last ArrayBuffer sharing
// the memory is gone, ends a view hold that keeps the addresses mapped
// (zero pages after close: dma/view_hold.h).
Napi::Value E1000Device::GetPool(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!pool_ref_.IsEmpty()) return pool_ref_.Value();
  if (!CheckOpen(env)) return env.Undefined();
  return ExposePool(env, pool_ref_, dev_.pool(), dev_.pool_bytes(), "E1000Device: the DMA pool");
}

Napi::Value E1000Device::GetSlotSize(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), dev_.slot_size()); }

Napi::Value E1000Device::GetTso(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), dev_.tso()); }

Napi::Value E1000Device::GetSlotCount(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), dev_.slot_count()); }

Napi::Value E1000Device::GetMac(const Napi::CallbackInfo& info) {
  const uint8_t* m = dev_.mac();
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return Napi::String::New(info.Env(), buf);
}

Napi::Value E1000Device::GetModel(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), dev_.model()); }

Napi::Value E1000Device::GetDeviceId(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), dev_.device_id()); }

Napi::Value E1000Device::GetMemory(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), dev_.vfio() && !dev_.hugetlb() ? "vfio-iommu" : "hugetlbfs");
}

// start(freeStack: Uint32Array)
Napi::Value E1000Device::Start(const Napi::CallbackInfo& info) {
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
  int rc = dev_.start(data, static_cast<uint32_t>(len - 1));
  if (rc < 0) {
    ThrowSystem(env, -rc, "start", addr_);
    return env.Undefined();
  }
  return env.Undefined();
}

// The driver keeps the free stack's address from start() on: before each
// call that uses it, make sure JavaScript has not detached or shrunk it
// since. If it has, the device stops (DMA off: it can no longer take or
// return slots) and every later call throws.
bool E1000Device::FreeStackUsable(Napi::Env env) {
  if (free_stack_.IsEmpty() || free_stack_.Usable(env)) return true;
  dev_.stop_dma();
  free_stack_.Get(env, "E1000Device: the free stack");  // throws ERR_USTACK_BUFFER_DETACHED
  return false;
}

Napi::Value E1000Device::RxBurst(const Napi::CallbackInfo& info) {
  NativeTimer timer(this, 0);
  Napi::Env env = info.Env();
  if (!burst_.Read(info, BurstArrays::Inputs::kNone)) return env.Undefined();
  if (!dev_.is_open()) return Napi::Number::New(env, 0);
  if (!FreeStackUsable(env)) return env.Undefined();
  uint32_t n = dev_.rx_burst(burst_.out_slots(), burst_.out_lens(), burst_.count());
  if (n == 0) timer.Rebook(4);
  return Napi::Number::New(env, n);
}

// The slots and lengths are copied once (BurstArrays) and the driver reads
// only the copies. Lengths are bounded by the slot and by what one TX
// descriptor carries (a legacy descriptor's length field has 16 bits).
Napi::Value E1000Device::TxBurst(const Napi::CallbackInfo& info) {
  NativeTimer timer(this, 1);
  Napi::Env env = info.Env();
  if (!burst_.Read(info, BurstArrays::Inputs::kSlotsAndLens)) return env.Undefined();
  if (!dev_.is_open()) return Napi::Number::New(env, 0);
  if (!FreeStackUsable(env)) return env.Undefined();
  if (!CheckTxBurst(env, dev_.slot_count(), ustack::slots::kMinFrame,
                    ustack::slots::max_tx_frame(dev_.slot_size()), "the largest TX frame")) {
    return env.Undefined();
  }
  ustack::e1000::TxRefusal refusal;
  uint32_t sent = dev_.tx_burst(burst_.slots(), burst_.lens(), burst_.count(), &refusal);
  if (refusal.why != ustack::slots::Refusal::kNone) {
    if (refusal.range()) ThrowRange(env, refusal.message());
    else ThrowCoded(env, false, refusal.code(), refusal.message());
    return env.Undefined();
  }
  return Napi::Number::New(env, sent);
}

Napi::Value E1000Device::TxReclaim(const Napi::CallbackInfo& info) {
  NativeTimer timer(this, 2);
  Napi::Env env = info.Env();
  if (!dev_.is_open()) return Napi::Number::New(env, 0);
  if (!FreeStackUsable(env)) return env.Undefined();
  return Napi::Number::New(env, dev_.tx_reclaim());
}

Napi::Value E1000Device::LinkUp(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), dev_.link_up()); }

// setMulticast(macs: Uint8Array): the group addresses to receive (ReadMulticastGroups).
Napi::Value E1000Device::SetMulticast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  std::vector<uint8_t> macs;
  if (!ReadMulticastGroups(info, &macs)) return env.Undefined();
  dev_.set_multicast(macs.data(), macs.size() / 6);
  return env.Undefined();
}

Napi::Value E1000Device::ReadReg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE", "readReg(offset: number)");
    return env.Undefined();
  }
  double off = info[0].As<Napi::Number>().DoubleValue();
  if (!dev_.reg_readable(off)) {
    char got[32];
    std::snprintf(got, sizeof got, "%.17g", off);
    ThrowRange(env, std::string("readReg: offset must be a multiple of 4 inside BAR0 (4-byte registers); got ") + got);
    return env.Undefined();
  }
  return Napi::Number::New(env, dev_.read_reg(static_cast<uint32_t>(off)));
}

// armWake(): true when a frame is already waiting (no need to sleep); false
// when armed (or when there is no interrupt fd: the caller then polls).
Napi::Value E1000Device::ArmWake(const Napi::CallbackInfo& info) {
  NativeTimer timer(this, 3);
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

Napi::Value E1000Device::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  dev_.collect_hw_stats();
  const ustack::e1000::Counters& c = dev_.counters();
  Napi::Object o = Napi::Object::New(env);
  auto set = [&](const char* k, uint64_t v) { o.Set(k, Napi::Number::New(env, static_cast<double>(v))); };
  set("rxFrames", c.rx_frames);
  set("rxBytes", c.rx_bytes);
  set("rxDroppedErrors", c.rx_dropped_errors);
  set("rxNoSlot", c.rx_no_slot);
  set("txFrames", c.tx_frames);
  set("txBytes", c.tx_bytes);
  set("txRingFull", c.tx_ring_full);
  set("txContexts", c.tx_contexts);
  set("txChecksumOffloaded", c.tx_csum_offloaded);
  set("txTsoFrames", c.tx_tso_frames);
  set("txTsoSegments", c.tx_tso_segments);
  set("txTsoSoftware", c.tx_tso_software);
  set("txTsoMssLowered", c.tx_tso_mss_lowered);
  set("rxMultiDescriptor", c.rx_multi_desc);
  set("rxBadLength", c.rx_bad_length);
  set("txRefused", c.tx_refused);
  set("deviceFaults", c.device_faults);
  const ustack::slots::Faults& sf = dev_.slot_faults();
  set("freeStackBadIndex", sf.bad_index);
  set("freeStackInRing", sf.in_ring);
  set("freeStackDuplicate", sf.duplicate);
  set("freeStackCountClamped", sf.count_clamped);
  set("freeStackPushRefused", sf.push_refused);
  set("irqs", c.irqs);
  set("rxPolls", c.rx_polls);
  set("rxBursts", c.rx_bursts);
  set("txBursts", c.tx_bursts);
  set("mmioWrites", c.mmio_writes);
  set("mmioReads", c.mmio_reads);
  set("nativeTiming", timing_ ? 1 : 0);
  set("nativeRxNs", native_ns_[0]);
  set("nativeTxNs", native_ns_[1]);
  set("nativeReclaimNs", native_ns_[2]);
  set("nativeArmNs", native_ns_[3]);
  set("nativeRxEmptyNs", native_ns_[4]);
  set("nativeCalls", native_calls_[0] + native_calls_[1] + native_calls_[2] + native_calls_[3] + native_calls_[4]);
  set("wakeErrors", wake_errors());
  for (int i = 0; i < ustack::e1000::reg::kStatCount; i++) set(ustack::e1000::reg::kStats[i].name, dev_.hw_totals()[i]);
  o.Set("linkUp", Napi::Number::New(env, dev_.link_up() ? 1 : 0));
  return o;
}

Napi::Value E1000Device::StopDma(const Napi::CallbackInfo& info) {
  dev_.stop_dma();
  return info.Env().Undefined();
}

// close(): stops DMA and bus mastering, detaches the pool ArrayBuffer, then
// frees the DMA memory. Idempotent.
Napi::Value E1000Device::Close(const Napi::CallbackInfo& info) {
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

void E1000Device::CloseAll() {
  ClosePoll();
  // The pool ArrayBuffer may outlive this (GetPool): close() leaves its
  // addresses mapped to zero pages while it lives.
  ustack::registry::devices().remove(&dev_);
  dev_.close();
}

// e1000StopAll(): stops DMA and bus mastering on every open device of every
// environment: for the main thread's exit and signal paths, after which the
// process is gone and its workers with it (memory is freed later or by the
// kernel). Returns how many devices it stopped.
Napi::Value E1000StopAll(const Napi::CallbackInfo& info) {
  size_t n = ustack::registry::devices().stop_all();
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

// e1000StopEnv(): the same for the devices this environment (this thread)
// opened only: for a worker's exit paths, which must not stop the main
// thread's devices.
Napi::Value E1000StopEnv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t n = ustack::registry::devices().stop_env(static_cast<napi_env>(env));
  return Napi::Number::New(env, static_cast<double>(n));
}

namespace {

// Environment teardown (a worker ending, or the main thread's): stops this
// environment's devices before their finalizers free the DMA memory.
void OnEnvTeardown(void* env) {
  ustack::registry::devices().stop_env(env);
  ustack::registry::devices().unwatch_env(env);
}

}  // namespace

void WatchEnvironment(Napi::Env env) {
  napi_env raw = env;
  if (ustack::registry::devices().watch_env(raw)) napi_add_env_cleanup_hook(raw, OnEnvTeardown, raw);
}

// e1000SupportedDevice(vendor, device): the model name, or null.
Napi::Value E1000SupportedDevice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) return env.Null();
  const char* model = nullptr;
  if (!ustack::e1000::supported_device(static_cast<uint16_t>(info[0].As<Napi::Number>().Uint32Value()),
                                       static_cast<uint16_t>(info[1].As<Napi::Number>().Uint32Value()), &model)) {
    return env.Null();
  }
  return Napi::String::New(env, model);
}

}  // namespace ustack::napi
