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
#include "registry/device_registry.h"
#include "dma/view_hold.h"
#include "pci/address.h"

namespace {

using ustack::napi::BurstArrays;
using ustack::napi::GetU32Array;
using ustack::napi::HeldBuffer;
using ustack::napi::ThrowCoded;
using ustack::napi::ThrowError;
using ustack::napi::ThrowRange;
using ustack::napi::ThrowSystem;

// ---- TapDevice ------------------------------------------------------------------
//
// Wake-up semantics: armWake() starts a uv_poll_t on the fd for UV_READABLE;
// when the fd becomes readable the poll is stopped (one-shot) and the wake
// callback runs. A stopped (unarmed) poll never keeps the event loop alive.
// An armed poll keeps the loop alive only while the device is ref'd. Devices
// start ref'd (like a listening socket); unref() lets node exit while armed.

// Calls a device's wake callback from a libuv poll callback (no JS frame on
// the stack). Raw napi_make_callback: while node tears the environment down
// it still runs pending uv callbacks (a frame arriving makes the fd readable)
// but can no longer call into JS; node-addon-api would turn that status into
// a throw, which is fatal there, so such a wake-up is simply dropped. An
// exception from the callback itself is reported like any uncaught exception.
// The caller opens the HandleScope.
static void InvokeWakeCallback(Napi::Env env, Napi::Object recv, const Napi::FunctionReference& cb) {
  napi_value recv_v = recv.IsEmpty() ? env.Undefined() : static_cast<napi_value>(recv);
  napi_value result;
  napi_status st = napi_make_callback(env, nullptr, recv_v, cb.Value(), 0, nullptr, &result);
  if (st == napi_pending_exception || env.IsExceptionPending()) {
    napi_value e = nullptr;
    if (napi_get_and_clear_last_exception(env, &e) == napi_ok && e != nullptr) napi_fatal_exception(env, e);
  }
}

class TapDevice : public Napi::ObjectWrap<TapDevice> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(
        env, "TapDevice",
        {
            InstanceAccessor<&TapDevice::GetName>("name"),
            InstanceAccessor<&TapDevice::GetFd>("fd"),
            InstanceAccessor<&TapDevice::GetPreExisted>("preExisted"),
            InstanceAccessor<&TapDevice::GetSlotSize>("slotSize"),
            InstanceAccessor<&TapDevice::GetSlotCount>("slotCount"),
            InstanceAccessor<&TapDevice::GetVnetHdrLen>("vnetHdrLen"),
            InstanceMethod<&TapDevice::AttachPool>("attachPool"),
            InstanceMethod<&TapDevice::ReadBurst>("readBurst"),
            InstanceMethod<&TapDevice::WriteBurst>("writeBurst"),
            InstanceMethod<&TapDevice::ConfigureHost>("configureHost"),
            InstanceMethod<&TapDevice::HostMac>("hostMac"),
            InstanceMethod<&TapDevice::HostMtu>("hostMtu"),
            InstanceMethod<&TapDevice::HostFlags>("hostFlags"),
            InstanceMethod<&TapDevice::SetWakeCallback>("setWakeCallback"),
            InstanceMethod<&TapDevice::ArmWake>("armWake"),
            InstanceMethod<&TapDevice::Ref>("ref"),
            InstanceMethod<&TapDevice::Unref>("unref"),
            InstanceMethod<&TapDevice::HasRef>("hasRef"),
            InstanceMethod<&TapDevice::Stats>("stats"),
            InstanceMethod<&TapDevice::Close>("close"),
        });
  }

  explicit TapDevice(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TapDevice>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) {
      ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE", "The \"name\" argument must be a string");
      return;
    }
    std::string want = info[0].As<Napi::String>().Utf8Value();
    ustack::tap::OpenOptions opts;
    // new TapDevice(name, { offloads?: boolean }): offloads = IFF_VNET_HDR
    // (12-byte header) with TUN_F_CSUM | TUN_F_TSO4.
    if (info.Length() >= 2 && info[1].IsObject()) {
      Napi::Value off = info[1].As<Napi::Object>().Get("offloads");
      if (env.IsExceptionPending()) return;
      if (off.ToBoolean().Value()) {
        opts.vnet_hdr_len = static_cast<int>(ustack::tap::kVnetHdrLen);
        opts.offload_flags = ustack::tap::kTunOffloadCsum | ustack::tap::kTunOffloadTso4;
      }
    }
    ustack::tap::OpenResult res;
    ustack::Error err;
    int rc = ustack::tap::open_tap(want, opts, &res, &err);
    if (rc < 0) {
      ThrowError(env, err, want);
      return;
    }
    fd_ = res.fd;
    name_ = res.name;
    pre_existed_ = res.pre_existed;
    vnet_hdr_len_ = static_cast<uint32_t>(opts.vnet_hdr_len);

    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      CloseAll();
      ThrowCoded(env, false, "ERR_USTACK_NO_LOOP", "TapDevice: no libuv event loop");
      return;
    }
    poll_ = new uv_poll_t;
    rc = uv_poll_init(loop, poll_, fd_);
    if (rc < 0) {
      delete poll_;
      poll_ = nullptr;
      CloseAll();
      ThrowSystem(env, -rc, "uv_poll_init", want);
      return;
    }
    poll_->data = this;
  }

  ~TapDevice() override { CloseAll(); }

 private:
  // ---- accessors ----
  Napi::Value GetName(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), name_); }
  Napi::Value GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }
  Napi::Value GetPreExisted(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), pre_existed_);
  }
  Napi::Value GetSlotSize(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), slot_size_); }
  Napi::Value GetSlotCount(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), slot_count_);
  }
  Napi::Value GetVnetHdrLen(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), vnet_hdr_len_);
  }

  // The optional 4th burst argument: a Uint8Array of n * vnetHdrLen bytes of
  // virtio_net_hdr, one per frame. Required when the device has a vnet header.
  bool VnetHdrs(const Napi::CallbackInfo& info, uint32_t n, uint8_t** hdrs) {
    Napi::Env env = info.Env();
    *hdrs = nullptr;
    if (vnet_hdr_len_ == 0) return true;
    napi_typedarray_type type;
    size_t len = 0;
    void* ptr = nullptr;
    if (info.Length() < 4 ||
        napi_get_typedarray_info(env, info[3], &type, &len, &ptr, nullptr, nullptr) != napi_ok ||
        type != napi_uint8_array) {
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (!pending) {
        ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE",
                   "The \"hdrs\" argument must be a Uint8Array (device opened with offloads)");
      }
      return false;
    }
    if (len < static_cast<size_t>(n) * vnet_hdr_len_) {
      ThrowRange(env, "hdrs holds " + std::to_string(len) + " bytes, need " +
                          std::to_string(static_cast<size_t>(n) * vnet_hdr_len_));
      return false;
    }
    *hdrs = static_cast<uint8_t*>(ptr);
    return true;
  }

  bool CheckOpen(Napi::Env env, const char* syscall) {
    if (fd_ >= 0) return true;
    ThrowSystem(env, EBADF, syscall, name_);
    return false;
  }

  // attachPool(arrayBuffer, slotSize): once, or again after JavaScript
  // detached or shrank the pool. Keeps the ArrayBuffer alive; its memory is
  // looked up again on every burst (HeldBuffer), never cached.
  Napi::Value AttachPool(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "attachPool")) return env.Undefined();
    if (!pool_.IsEmpty() && pool_.Usable(env)) {
      ThrowCoded(env, false, "ERR_USTACK_POOL_ATTACHED", "TapDevice: pool already attached");
      return env.Undefined();
    }
    if (info.Length() < 2 || !info[0].IsArrayBuffer() || !info[1].IsNumber()) {
      ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE",
                 "attachPool(pool: ArrayBuffer, slotSize: number)");
      return env.Undefined();
    }
    Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
    double ss = info[1].As<Napi::Number>().DoubleValue();
    size_t bytes = ab.ByteLength();
    if (!(ss >= 64 && ss <= 1 << 20) || ss != static_cast<double>(static_cast<uint32_t>(ss)) ||
        bytes < static_cast<size_t>(ss)) {
      ThrowRange(env, "attachPool: slotSize must be an integer in [64, 1 MiB] and fit the pool");
      return env.Undefined();
    }
    uint32_t slot_size = static_cast<uint32_t>(ss);
    size_t count = bytes / slot_size;
    uint32_t slot_count = count > 0xffffffffu ? 0xffffffffu : static_cast<uint32_t>(count);
    if (!pool_.Hold(env, ab, static_cast<size_t>(slot_count) * slot_size, "pool")) return env.Undefined();
    slot_size_ = slot_size;
    slot_count_ = slot_count;
    return env.Undefined();
  }

  // The pool's memory for this call (see AttachPool).
  uint8_t* PoolData(Napi::Env env) {
    if (pool_.IsEmpty()) {
      ThrowCoded(env, false, "ERR_USTACK_NO_POOL", "TapDevice: attachPool() first");
      return nullptr;
    }
    return pool_.Get(env, "TapDevice: the pool");
  }

  // readBurst(slots, lens, max): reads up to max frames into the given slots.
  // Returns the count, or -errno on a read error before any frame.
  Napi::Value ReadBurst(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "read")) return env.Undefined();
    uint8_t* pool = PoolData(env);
    if (pool == nullptr) return env.Undefined();
    if (!burst_.Read(info, BurstArrays::Inputs::kSlots) || !burst_.CheckSlots(env, slot_count_)) {
      return env.Undefined();
    }
    uint32_t n = burst_.count();
    uint8_t* hdrs = nullptr;
    if (!VnetHdrs(info, n, &hdrs)) return env.Undefined();
    int got = ustack::tap::read_burst(fd_, pool, slot_size_, burst_.slots(), burst_.out_lens(), n, &counters_,
                                      hdrs, vnet_hdr_len_);
    return Napi::Number::New(env, got);
  }

  // writeBurst(slots, lens, n): returns how many frames were taken. A frame
  // longer than a slot is refused (ERR_OUT_OF_RANGE) before anything is sent.
  Napi::Value WriteBurst(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "write")) return env.Undefined();
    uint8_t* pool = PoolData(env);
    if (pool == nullptr) return env.Undefined();
    if (!burst_.Read(info, BurstArrays::Inputs::kSlotsAndLens) || !burst_.CheckSlots(env, slot_count_) ||
        !burst_.CheckLens(env, 0, slot_size_, "slotSize")) {
      return env.Undefined();
    }
    uint32_t n = burst_.count();
    uint8_t* hdrs = nullptr;
    if (!VnetHdrs(info, n, &hdrs)) return env.Undefined();
    int taken = ustack::tap::write_burst(fd_, pool, slot_size_, burst_.slots(), burst_.lens(), n, &counters_, hdrs,
                                         vnet_hdr_len_);
    return Napi::Number::New(env, taken);
  }

  // configureHost({ address?, prefixLength?, mtu?, up? }); applied in the order
  // mtu, address/netmask, up.
  Napi::Value ConfigureHost(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "ioctl")) return env.Undefined();
    if (info.Length() < 1 || !info[0].IsObject()) {
      ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE", "configureHost(options: object)");
      return env.Undefined();
    }
    Napi::Object o = info[0].As<Napi::Object>();
    Napi::Value address = o.Get("address");
    Napi::Value prefix = o.Get("prefixLength");
    Napi::Value mtu = o.Get("mtu");
    Napi::Value up = o.Get("up");
    if (env.IsExceptionPending()) return env.Undefined();

    if (!mtu.IsUndefined()) {
      if (!mtu.IsNumber()) {
        ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE", "options.mtu must be a number");
        return env.Undefined();
      }
      double m = mtu.As<Napi::Number>().DoubleValue();
      if (!(m >= 68 && m <= 65535) || m != static_cast<double>(static_cast<int>(m))) {
        ThrowRange(env, "options.mtu must be an integer in [68, 65535]");
        return env.Undefined();
      }
      int rc = ustack::tap::set_mtu(name_, static_cast<int>(m));
      if (rc < 0) {
        ThrowSystem(env, -rc, "ioctl(SIOCSIFMTU)", name_);
        return env.Undefined();
      }
    }

    if (!address.IsUndefined()) {
      if (!address.IsString()) {
        ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE", "options.address must be a string");
        return env.Undefined();
      }
      std::string a = address.As<Napi::String>().Utf8Value();
      struct in_addr in;
      if (::inet_pton(AF_INET, a.c_str(), &in) != 1) {
        ThrowCoded(env, true, "ERR_INVALID_ARG_VALUE", "options.address is not an IPv4 address: " + a);
        return env.Undefined();
      }
      int plen = -1;
      if (!prefix.IsUndefined()) {
        if (!prefix.IsNumber()) {
          ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE", "options.prefixLength must be a number");
          return env.Undefined();
        }
        double p = prefix.As<Napi::Number>().DoubleValue();
        if (!(p >= 0 && p <= 32) || p != static_cast<double>(static_cast<int>(p))) {
          ThrowRange(env, "options.prefixLength must be an integer in [0, 32]");
          return env.Undefined();
        }
        plen = static_cast<int>(p);
      }
      int rc = ustack::tap::set_ipv4(name_, in.s_addr, plen);
      if (rc < 0) {
        ThrowSystem(env, -rc, "ioctl(SIOCSIFADDR)", name_);
        return env.Undefined();
      }
    }

    if (!up.IsUndefined()) {
      int rc = ustack::tap::set_up(name_, up.ToBoolean().Value());
      if (rc < 0) {
        ThrowSystem(env, -rc, "ioctl(SIOCSIFFLAGS)", name_);
        return env.Undefined();
      }
    }
    return env.Undefined();
  }

  Napi::Value HostMac(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "ioctl(SIOCGIFHWADDR)")) return env.Undefined();
    uint8_t m[6];
    int rc = ustack::tap::get_mac(name_, m);
    if (rc < 0) {
      ThrowSystem(env, -rc, "ioctl(SIOCGIFHWADDR)", name_);
      return env.Undefined();
    }
    char buf[18];
    std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    return Napi::String::New(env, buf);
  }

  Napi::Value HostMtu(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "ioctl(SIOCGIFMTU)")) return env.Undefined();
    int rc = ustack::tap::get_mtu(name_);
    if (rc < 0) {
      ThrowSystem(env, -rc, "ioctl(SIOCGIFMTU)", name_);
      return env.Undefined();
    }
    return Napi::Number::New(env, rc);
  }

  Napi::Value HostFlags(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "ioctl(SIOCGIFFLAGS)")) return env.Undefined();
    int rc = ustack::tap::get_flags(name_);
    if (rc < 0) {
      ThrowSystem(env, -rc, "ioctl(SIOCGIFFLAGS)", name_);
      return env.Undefined();
    }
    return Napi::Number::New(env, rc);
  }

  // ---- wake-up ----

  Napi::Value SetWakeCallback(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !(info[0].IsFunction() || info[0].IsNull() || info[0].IsUndefined())) {
      ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE", "setWakeCallback(fn: Function | null)");
      return env.Undefined();
    }
    // A closed device never wakes: holding a callback would only keep it alive.
    if (info[0].IsFunction() && fd_ >= 0) {
      wake_cb_ = Napi::Persistent(info[0].As<Napi::Function>());
    } else {
      wake_cb_.Reset();
    }
    return env.Undefined();
  }

  // armWake(): one-shot; idempotent while armed.
  Napi::Value ArmWake(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "uv_poll_start")) return env.Undefined();
    if (armed_) return env.Undefined();
    int rc = uv_poll_start(poll_, UV_READABLE, &TapDevice::OnPoll);
    if (rc < 0) {
      ThrowSystem(env, -rc, "uv_poll_start", name_);
      return env.Undefined();
    }
    armed_ = true;
    return env.Undefined();
  }

  static void OnPoll(uv_poll_t* handle, int status, int /*events*/) {
    TapDevice* self = static_cast<TapDevice*>(handle->data);
    uv_poll_stop(handle);
    if (self == nullptr) return;
    self->armed_ = false;
    if (status < 0) self->wake_errors_++;
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
    const ustack::tap::Counters& c = counters_;
    Napi::Object o = Napi::Object::New(env);
    o.Set("rxFrames", Napi::Number::New(env, static_cast<double>(c.rx_frames)));
    o.Set("rxBytes", Napi::Number::New(env, static_cast<double>(c.rx_bytes)));
    o.Set("rxErrors", Napi::Number::New(env, static_cast<double>(c.rx_errors)));
    o.Set("rxTruncated", Napi::Number::New(env, static_cast<double>(c.rx_truncated)));
    o.Set("rxEagain", Napi::Number::New(env, static_cast<double>(c.rx_eagain)));
    o.Set("txFrames", Napi::Number::New(env, static_cast<double>(c.tx_frames)));
    o.Set("txBytes", Napi::Number::New(env, static_cast<double>(c.tx_bytes)));
    o.Set("txErrors", Napi::Number::New(env, static_cast<double>(c.tx_errors)));
    o.Set("txEagain", Napi::Number::New(env, static_cast<double>(c.tx_eagain)));
    o.Set("lastRxErrno", Napi::Number::New(env, c.last_rx_errno));
    o.Set("lastTxErrno", Napi::Number::New(env, c.last_tx_errno));
    o.Set("wakeErrors", Napi::Number::New(env, static_cast<double>(wake_errors_)));
    o.Set("rxGsoFrames", Napi::Number::New(env, static_cast<double>(c.rx_gso_frames)));
    o.Set("rxGsoBytes", Napi::Number::New(env, static_cast<double>(c.rx_gso_bytes)));
    o.Set("rxCsumPartial", Napi::Number::New(env, static_cast<double>(c.rx_csum_partial)));
    o.Set("rxCsumValid", Napi::Number::New(env, static_cast<double>(c.rx_csum_valid)));
    o.Set("rxLargest", Napi::Number::New(env, static_cast<double>(c.rx_largest)));
    o.Set("txGsoFrames", Napi::Number::New(env, static_cast<double>(c.tx_gso_frames)));
    o.Set("txGsoBytes", Napi::Number::New(env, static_cast<double>(c.tx_gso_bytes)));
    o.Set("txCsumOffload", Napi::Number::New(env, static_cast<double>(c.tx_csum_offload)));
    o.Set("txLargest", Napi::Number::New(env, static_cast<double>(c.tx_largest)));
    return o;
  }

  // close(): stops and closes the poll handle, closes the fd. Idempotent.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    CloseAll();
    wake_cb_.Reset();
    pool_.Reset();
    return info.Env().Undefined();
  }

  // Safe from the finalizer: touches only libuv and the fd, never JS.
  void CloseAll() {
    if (poll_ != nullptr) {
      poll_->data = nullptr;  // OnPoll must not reach a dead TapDevice
      uv_close(reinterpret_cast<uv_handle_t*>(poll_),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      poll_ = nullptr;
    }
    armed_ = false;
    if (fd_ >= 0) {
      ustack::tap::close_tap(fd_);
      fd_ = -1;
    }
  }

  int fd_ = -1;
  std::string name_;
  bool pre_existed_ = false;
  uint32_t vnet_hdr_len_ = 0;

  HeldBuffer pool_;  // the attached pool (never a cached pointer: JavaScript can detach it)
  BurstArrays burst_;
  uint32_t slot_size_ = 0;
  uint32_t slot_count_ = 0;

  uv_poll_t* poll_ = nullptr;
  bool armed_ = false;
  bool refed_ = true;
  uint64_t wake_errors_ = 0;
  Napi::FunctionReference wake_cb_;

  ustack::tap::Counters counters_;
};

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
  exports.Set("TapDevice", TapDevice::Define(env));
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
