// N-API surface only: thin wrappers over addon/tap, addon/pci, addon/dma, addon/e1000.
//
// Built with C++ exceptions disabled: every failure is thrown with
// Napi::Error::...ThrowAsJavaScriptException() followed by a return.
#include <napi.h>
#include <uv.h>

#include <arpa/inet.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "tap/tap.h"
#include "e1000/e1000.h"
#include "e1000/regs.h"
#include "bytes/bytes.h"
#include "e1000/ring.h"
#include "napi/buffers.h"
#include "napi/errors.h"
#include "napi/polled_device.h"
#include "napi/tap_device.h"
#include "registry/device_registry.h"
#include "dma/view_hold.h"
#include "pci/address.h"

namespace {

using ustack::napi::BurstArrays;
using ustack::napi::GetU32Array;
using ustack::napi::HeldBuffer;
using ustack::napi::InvokeWakeCallback;
using ustack::napi::ThrowCoded;
using ustack::napi::ThrowError;
using ustack::napi::ThrowRange;
using ustack::napi::ThrowSystem;

// ---- E1000Device ----------------------------------------------------------------
//
// new E1000Device(pciAddr, access: 'uio'|'vfio', options) opens and programs
// the NIC (RX/TX off). `pool` is the DMA slot memory as one external
// ArrayBuffer (detached on close). start(freeStack) fills the RX ring from the
// shared free-slot stack (Uint32Array: [count, slot...]) and enables RX/TX.
// rxBurst/txBurst move one burst per call. Wake-up: a uv_poll_t on the UIO /
// VFIO interrupt fd, one-shot per armWake(), like TapDevice.

class E1000Device : public Napi::ObjectWrap<E1000Device> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "E1000Device",
                       {
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
                           InstanceMethod<&E1000Device::SetWakeCallback>("setWakeCallback"),
                           InstanceMethod<&E1000Device::ArmWake>("armWake"),
                           InstanceMethod<&E1000Device::Ref>("ref"),
                           InstanceMethod<&E1000Device::Unref>("unref"),
                           InstanceMethod<&E1000Device::HasRef>("hasRef"),
                           InstanceMethod<&E1000Device::Stats>("stats"),
                           InstanceMethod<&E1000Device::StopDma>("stopDma"),
                           InstanceMethod<&E1000Device::Close>("close"),
                       });
  }

  explicit E1000Device(const Napi::CallbackInfo& info) : Napi::ObjectWrap<E1000Device>(info) {
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
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    poll_ = new uv_poll_t;
    if (uv_poll_init(loop, poll_, dev_.irq_fd()) != 0) {
      delete poll_;
      poll_ = nullptr;  // no wake-up: the poll loop will spin
    } else {
      poll_->data = this;
    }
  }

  ~E1000Device() override { CloseAll(); }

 private:
  bool CheckOpen(Napi::Env env) {
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
  Napi::Value GetPool(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!pool_ref_.IsEmpty()) return pool_ref_.Value();
    if (!CheckOpen(env)) return env.Undefined();
    auto* hold = new ustack::dma::ViewHold(dev_.pool(), dev_.pool_bytes());
    napi_value ab = nullptr;
    napi_status st = napi_create_external_arraybuffer(
        env, dev_.pool(), dev_.pool_bytes(),
        [](napi_env, void*, void* h) { delete static_cast<ustack::dma::ViewHold*>(h); }, hold, &ab);
    if (st != napi_ok) {
      delete hold;
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (!pending) ThrowCoded(env, false, "ERR_USTACK_NO_EXTERNAL_BUFFERS", "E1000Device: cannot expose the DMA pool to JavaScript");
      return env.Undefined();
    }
    Napi::ArrayBuffer pool(env, ab);
    pool_ref_ = Napi::Persistent(pool);
    return pool;
  }
  Napi::Value GetSlotSize(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), dev_.slot_size()); }
  Napi::Value GetTso(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), dev_.tso()); }
  Napi::Value GetSlotCount(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), dev_.slot_count()); }
  Napi::Value GetMac(const Napi::CallbackInfo& info) {
    const uint8_t* m = dev_.mac();
    char buf[18];
    std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    return Napi::String::New(info.Env(), buf);
  }
  Napi::Value GetModel(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), dev_.model()); }
  Napi::Value GetDeviceId(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), dev_.device_id()); }
  Napi::Value GetMemory(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), dev_.vfio() && !dev_.hugetlb() ? "vfio-iommu" : "hugetlbfs");
  }

  // start(freeStack: Uint32Array)
  Napi::Value Start(const Napi::CallbackInfo& info) {
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
  bool FreeStackUsable(Napi::Env env) {
    if (free_stack_.IsEmpty() || free_stack_.Usable(env)) return true;
    dev_.stop_dma();
    free_stack_.Get(env, "E1000Device: the free stack");  // throws ERR_USTACK_BUFFER_DETACHED
    return false;
  }

  Napi::Value RxBurst(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!burst_.Read(info, BurstArrays::Inputs::kNone)) return env.Undefined();
    if (!dev_.is_open()) return Napi::Number::New(env, 0);
    if (!FreeStackUsable(env)) return env.Undefined();
    return Napi::Number::New(env, dev_.rx_burst(burst_.out_slots(), burst_.out_lens(), burst_.count()));
  }

  // The slots and lengths are copied once (BurstArrays) and the driver reads
  // only the copies. Lengths are bounded by the slot and by what one TX
  // descriptor carries (a legacy descriptor's length field has 16 bits).
  Napi::Value TxBurst(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!burst_.Read(info, BurstArrays::Inputs::kSlotsAndLens)) return env.Undefined();
    if (!dev_.is_open()) return Napi::Number::New(env, 0);
    if (!FreeStackUsable(env)) return env.Undefined();
    if (!burst_.CheckSlots(env, dev_.slot_count()) ||
        !burst_.CheckLens(env, ustack::e1000::slots::kMinFrame, ustack::e1000::slots::max_tx_frame(dev_.slot_size()),
                          "the largest TX frame")) {
      return env.Undefined();
    }
    ustack::e1000::TxRefusal refusal;
    uint32_t sent = dev_.tx_burst(burst_.slots(), burst_.lens(), burst_.count(), &refusal);
    if (refusal.why != ustack::e1000::slots::Refusal::kNone) {
      if (refusal.range()) ThrowRange(env, refusal.message());
      else ThrowCoded(env, false, refusal.code(), refusal.message());
      return env.Undefined();
    }
    return Napi::Number::New(env, sent);
  }

  Napi::Value TxReclaim(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!dev_.is_open()) return Napi::Number::New(env, 0);
    if (!FreeStackUsable(env)) return env.Undefined();
    return Napi::Number::New(env, dev_.tx_reclaim());
  }

  Napi::Value LinkUp(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), dev_.link_up()); }

  Napi::Value ReadReg(const Napi::CallbackInfo& info) {
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

  Napi::Value SetWakeCallback(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() >= 1 && info[0].IsFunction()) {
      wake_cb_ = Napi::Persistent(info[0].As<Napi::Function>());
    } else {
      wake_cb_.Reset();
    }
    return env.Undefined();
  }

  // armWake(): true when a frame is already waiting (no need to sleep); false
  // when armed (or when there is no interrupt fd: the caller then polls).
  Napi::Value ArmWake(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!dev_.is_open()) return Napi::Boolean::New(env, false);
    if (poll_ == nullptr) return Napi::Boolean::New(env, true);
    if (!armed_) {
      int rc = uv_poll_start(poll_, UV_READABLE, &E1000Device::OnPoll);
      if (rc < 0) {
        ThrowSystem(env, -rc, "uv_poll_start", addr_);
        return env.Undefined();
      }
      armed_ = true;
    }
    return Napi::Boolean::New(env, dev_.arm_irq());
  }

  static void OnPoll(uv_poll_t* handle, int status, int /*events*/) {
    E1000Device* self = static_cast<E1000Device*>(handle->data);
    uv_poll_stop(handle);
    if (self == nullptr) return;
    self->armed_ = false;
    if (status < 0) self->wake_errors_++;
    self->dev_.on_irq();
    if (self->wake_cb_.IsEmpty()) return;
    Napi::HandleScope scope(self->Env());  // before Value(): it creates a handle
    InvokeWakeCallback(self->Env(), self->Value(), self->wake_cb_);
  }

  Napi::Value Ref(const Napi::CallbackInfo& info) {
    refed_ = true;
    if (poll_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
    return info.Env().Undefined();
  }
  Napi::Value Unref(const Napi::CallbackInfo& info) {
    refed_ = false;
    if (poll_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
    return info.Env().Undefined();
  }
  Napi::Value HasRef(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), refed_); }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
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
    const ustack::e1000::slots::Faults& sf = dev_.slot_faults();
    set("freeStackBadIndex", sf.bad_index);
    set("freeStackInRing", sf.in_ring);
    set("freeStackDuplicate", sf.duplicate);
    set("freeStackCountClamped", sf.count_clamped);
    set("freeStackPushRefused", sf.push_refused);
    set("irqs", c.irqs);
    set("wakeErrors", wake_errors_);
    for (int i = 0; i < ustack::e1000::reg::kStatCount; i++) set(ustack::e1000::reg::kStats[i].name, dev_.hw_totals()[i]);
    o.Set("linkUp", Napi::Number::New(env, dev_.link_up() ? 1 : 0));
    return o;
  }

  Napi::Value StopDma(const Napi::CallbackInfo& info) {
    dev_.stop_dma();
    return info.Env().Undefined();
  }

  // close(): stops DMA and bus mastering, detaches the pool ArrayBuffer, then
  // frees the DMA memory. Idempotent.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    dev_.stop_dma();
    if (!pool_ref_.IsEmpty()) {
      Napi::ArrayBuffer ab = pool_ref_.Value();
      if (!ab.IsDetached()) ab.Detach();
      pool_ref_.Reset();
    }
    free_stack_.Reset();
    wake_cb_.Reset();
    CloseAll();
    return info.Env().Undefined();
  }

  void CloseAll() {
    if (poll_ != nullptr) {
      poll_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      poll_ = nullptr;
    }
    armed_ = false;
    // The pool ArrayBuffer may outlive this (GetPool): close() leaves its
    // addresses mapped to zero pages while it lives.
    ustack::registry::devices().remove(&dev_);
    dev_.close();
  }

  std::string addr_;
  ustack::e1000::Device dev_;
  Napi::Reference<Napi::ArrayBuffer> pool_ref_;
  HeldBuffer free_stack_;  // the driver keeps its address: checked before every call (FreeStackUsable)
  BurstArrays burst_;
  uv_poll_t* poll_ = nullptr;
  bool armed_ = false;
  bool refed_ = true;
  uint64_t wake_errors_ = 0;
  Napi::FunctionReference wake_cb_;
};

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

// Environment teardown (a worker ending, or the main thread's): stops this
// environment's devices before their finalizers free the DMA memory.
void OnEnvTeardown(void* env) {
  ustack::registry::devices().stop_env(env);
  ustack::registry::devices().unwatch_env(env);
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

// The poll loop's view of libuv's loop (one per environment, so workers each
// have their own). While the poll loop spins it keeps libuv's poll phase
// non-blocking with its own idle handle rather than a referenced setImmediate:
// node's immediate idle handle stays active for the whole callback that
// setImmediate runs, which would make eventLoopDue() always true inside it.
struct LoopProbe {
  uv_loop_t* loop = nullptr;
  uv_idle_t* idle = nullptr;
  bool spinning = false;
};

LoopProbe* GetLoopProbe(Napi::Env env) {
  void* data = nullptr;
  if (napi_get_instance_data(env, &data) == napi_ok && data != nullptr) return static_cast<LoopProbe*>(data);
  LoopProbe* p = new LoopProbe();
  if (napi_get_uv_event_loop(env, &p->loop) != napi_ok) p->loop = nullptr;
  if (p->loop != nullptr) {
    p->idle = new uv_idle_t;
    uv_idle_init(p->loop, p->idle);
  }
  napi_set_instance_data(
      env, p,
      [](napi_env, void* d, void*) {
        LoopProbe* q = static_cast<LoopProbe*>(d);
        if (q->idle != nullptr) {
          uv_idle_stop(q->idle);
          uv_close(reinterpret_cast<uv_handle_t*>(q->idle), [](uv_handle_t* h) { delete reinterpret_cast<uv_idle_t*>(h); });
        }
        delete q;
      },
      nullptr);
  return p;
}

// eventLoopSpin(on): starts/stops the idle handle that keeps libuv from
// blocking in epoll_wait while the poll loop has more polling to do. Like a
// referenced setImmediate it keeps the process alive while started.
Napi::Value EventLoopSpin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LoopProbe* p = GetLoopProbe(env);
  bool on = info.Length() > 0 && info[0].ToBoolean().Value();
  if (p->idle != nullptr && on != p->spinning) {
    if (on) uv_idle_start(p->idle, [](uv_idle_t*) {});
    else uv_idle_stop(p->idle);
    p->spinning = on;
  }
  return env.Undefined();
}

// eventLoopDue(): whether libuv has work due right now — an expired timer, a
// referenced setImmediate (node's idle handle), pending or closing callbacks.
// The poll loop stays inside one event-loop turn (no epoll_wait) until this
// says otherwise or its slice ends. No system call: uv_backend_timeout() reads
// the loop's queues and timer heap; loop->time is as of the turn's start, so
// the timer deadline is compared against a fresh uv_hrtime() (vDSO clock).
// Call it with the spin handle stopped, or it reports that handle.
Napi::Value EventLoopDue(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LoopProbe* p = GetLoopProbe(env);
  if (p->loop == nullptr) return Napi::Boolean::New(env, true);
  int timeout = uv_backend_timeout(p->loop);
  if (timeout < 0) return Napi::Boolean::New(env, false);
  if (timeout == 0) return Napi::Boolean::New(env, true);
  uint64_t now_ms = uv_hrtime() / 1000000;
  return Napi::Boolean::New(env, now_ms >= uv_now(p->loop) + static_cast<uint64_t>(timeout));
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("version", Napi::String::New(env, "0.1.0"));
  exports.Set("TapDevice", ustack::napi::TapDevice::Define(env));
  exports.Set("E1000Device", E1000Device::Define(env));
  exports.Set("e1000StopAll", Napi::Function::New(env, E1000StopAll, "e1000StopAll"));
  exports.Set("e1000StopEnv", Napi::Function::New(env, E1000StopEnv, "e1000StopEnv"));
  exports.Set("e1000SupportedDevice", Napi::Function::New(env, E1000SupportedDevice, "e1000SupportedDevice"));
  exports.Set("eventLoopDue", Napi::Function::New(env, EventLoopDue, "eventLoopDue"));
  exports.Set("eventLoopSpin", Napi::Function::New(env, EventLoopSpin, "eventLoopSpin"));
  ustack::bytes::Register(env, exports);
  napi_env raw = env;
  if (ustack::registry::devices().watch_env(raw)) napi_add_env_cleanup_hook(raw, OnEnvTeardown, raw);
  return exports;
}

NODE_API_MODULE(ustack, Init)
