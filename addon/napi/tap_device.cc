// TapDevice: see tap_device.h. Built with C++ exceptions disabled: every
// failure is thrown with ...ThrowAsJavaScriptException() followed by a return.
#include "napi/tap_device.h"

#include <arpa/inet.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "napi/errors.h"

namespace ustack::napi {

Napi::Function TapDevice::Define(Napi::Env env) {
  Properties props = {
      InstanceAccessor<&TapDevice::GetName>("name"),
      InstanceAccessor<&TapDevice::GetFd>("fd"),
      InstanceAccessor<&TapDevice::GetPreExisted>("preExisted"),
      InstanceAccessor<&TapDevice::GetSlotSize>("slotSize"),
      InstanceAccessor<&TapDevice::GetSlotCount>("slotCount"),
      InstanceAccessor<&TapDevice::GetVnetHdrLen>("vnetHdrLen"),
      InstanceAccessor<&TapDevice::GetDeviceGone>("deviceGone"),
      InstanceMethod<&TapDevice::AttachPool>("attachPool"),
      InstanceMethod<&TapDevice::ReadBurst>("readBurst"),
      InstanceMethod<&TapDevice::WriteBurst>("writeBurst"),
      InstanceMethod<&TapDevice::ConfigureHost>("configureHost"),
      InstanceMethod<&TapDevice::HostMac>("hostMac"),
      InstanceMethod<&TapDevice::HostMtu>("hostMtu"),
      InstanceMethod<&TapDevice::HostFlags>("hostFlags"),
      InstanceMethod<&TapDevice::ArmWake>("armWake"),
      InstanceMethod<&TapDevice::Stats>("stats"),
      InstanceMethod<&TapDevice::Close>("close"),
  };
  AddWakeMethods(&props);  // setWakeCallback, ref, unref, hasRef
  return DefineClass(env, "TapDevice", props);
}

TapDevice::TapDevice(const Napi::CallbackInfo& info) : PolledDevice<TapDevice>(info) {
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

  rc = InitPoll(env, fd_);
  if (rc == kNoLoop) {
    CloseAll();
    ThrowCoded(env, false, "ERR_USTACK_NO_LOOP", "TapDevice: no libuv event loop");
    return;
  }
  if (rc < 0) {
    CloseAll();
    ThrowSystem(env, -rc, "uv_poll_init", want);
    return;
  }
}

Napi::Value TapDevice::GetName(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), name_); }

Napi::Value TapDevice::GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }

Napi::Value TapDevice::GetPreExisted(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), pre_existed_);
}

Napi::Value TapDevice::GetSlotSize(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), slot_size_); }

Napi::Value TapDevice::GetSlotCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), slot_count_);
}

Napi::Value TapDevice::GetVnetHdrLen(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), vnet_hdr_len_);
}

Napi::Value TapDevice::GetDeviceGone(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), Gone());
}

// epoll reports POLLERR on a tun fd whose device was deleted (tun_chr_poll
// of a detached file). TUNGETIFF tells that apart from any other wake error
// without reading a frame; a gone device's poll is closed, so this wake-up's
// callback is its last and armWake() does nothing from now on.
void TapDevice::OnWakeError(int /*status*/) {
  if (fd_ < 0 || Gone()) return;
  int rc = ustack::tap::check_attached(fd_);
  if (rc < 0 && ustack::tap::is_device_gone(-rc)) {
    counters_.gone_errno = -rc;
    ClosePoll();
  }
}

void TapDevice::StopPollingIfGone() {
  if (Gone() && HasPoll()) ClosePoll();
}

// The optional 4th readBurst argument: a Uint8Array with room for a flag
// per frame (vnet::kRxFlagCsumVerified), or undefined/null (then partial
// checksums are completed). Its memory is used within this call only.
bool TapDevice::RxFlags(const Napi::CallbackInfo& info, uint32_t n, uint8_t** flags) {
  Napi::Env env = info.Env();
  *flags = nullptr;
  if (info.Length() < 4 || info[3].IsUndefined() || info[3].IsNull()) return true;
  napi_typedarray_type type;
  size_t len = 0;
  void* ptr = nullptr;
  if (napi_get_typedarray_info(env, info[3], &type, &len, &ptr, nullptr, nullptr) != napi_ok || type != napi_uint8_array) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (!pending) ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE", "The \"flags\" argument must be a Uint8Array");
    return false;
  }
  if (len < n) {
    ThrowRange(env, "flags holds " + std::to_string(len) + " bytes, need " + std::to_string(n));
    return false;
  }
  *flags = static_cast<uint8_t*>(ptr);
  return true;
}

bool TapDevice::CheckOpen(Napi::Env env, const char* syscall) {
  if (fd_ >= 0) return true;
  ThrowSystem(env, EBADF, syscall, name_);
  return false;
}

// attachPool(arrayBuffer, slotSize, mtu?): once, or again after JavaScript
// detached or shrank the pool. Keeps the ArrayBuffer alive; its memory is
// looked up again on every burst (HeldBuffer), never cached. `mtu` (with
// offloads): the IP MTU GSO cuts frames to (default 1500).
Napi::Value TapDevice::AttachPool(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env, "attachPool")) return env.Undefined();
  if (!pool_.IsEmpty() && pool_.Usable(env)) {
    ThrowCoded(env, false, "ERR_USTACK_POOL_ATTACHED", "TapDevice: pool already attached");
    return env.Undefined();
  }
  if (info.Length() < 2 || !info[0].IsArrayBuffer() || !info[1].IsNumber() ||
      (info.Length() >= 3 && !info[2].IsUndefined() && !info[2].IsNumber())) {
    ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE",
               "attachPool(pool: ArrayBuffer, slotSize: number, mtu?: number)");
    return env.Undefined();
  }
  uint32_t mtu = 1500;
  if (info.Length() >= 3 && info[2].IsNumber()) {
    double m = info[2].As<Napi::Number>().DoubleValue();
    if (!(m >= 68 && m <= 65535) || m != static_cast<double>(static_cast<uint32_t>(m))) {
      ThrowRange(env, "attachPool: mtu must be an integer in [68, 65535]");
      return env.Undefined();
    }
    mtu = static_cast<uint32_t>(m);
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
  tx_caps_.mtu = mtu;
  return env.Undefined();
}

// The pool's memory for this call (see AttachPool).
uint8_t* TapDevice::PoolData(Napi::Env env) {
  if (pool_.IsEmpty()) {
    ThrowCoded(env, false, "ERR_USTACK_NO_POOL", "TapDevice: attachPool() first");
    return nullptr;
  }
  return pool_.Get(env, "TapDevice: the pool");
}

// readBurst(slots, lens, max, flags?): reads up to max frames into the given
// slots. Returns the count, or -errno on a read error before any frame.
Napi::Value TapDevice::ReadBurst(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env, "read")) return env.Undefined();
  uint8_t* pool = PoolData(env);
  if (pool == nullptr) return env.Undefined();
  if (!burst_.Read(info, BurstArrays::Inputs::kSlots) || !burst_.CheckSlots(env, slot_count_)) {
    return env.Undefined();
  }
  uint32_t n = burst_.count();
  uint8_t* flags = nullptr;
  if (!RxFlags(info, n, &flags)) return env.Undefined();
  int got = ustack::tap::read_burst(fd_, pool, slot_size_, burst_.slots(), burst_.out_lens(), n, &counters_,
                                    vnet_hdr_len_ != 0, flags);
  StopPollingIfGone();
  return Napi::Number::New(env, got);
}

// writeBurst(slots, lens, n): returns how many frames were taken. A frame
// longer than a slot is refused (ERR_OUT_OF_RANGE) before anything is sent.
Napi::Value TapDevice::WriteBurst(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env, "write")) return env.Undefined();
  uint8_t* pool = PoolData(env);
  if (pool == nullptr) return env.Undefined();
  if (!burst_.Read(info, BurstArrays::Inputs::kSlotsAndLens) ||
      !CheckTxBurst(env, slot_count_, 0, slot_size_, "slotSize")) {
    return env.Undefined();
  }
  int taken = ustack::tap::write_burst(fd_, pool, slot_size_, burst_.slots(), burst_.lens(), burst_.count(), &counters_,
                                       vnet_hdr_len_ != 0 ? &tx_caps_ : nullptr);
  StopPollingIfGone();
  return Napi::Number::New(env, taken);
}

// configureHost({ address?, prefixLength?, mtu?, up? }); applied in the order
// mtu, address/netmask, up.
Napi::Value TapDevice::ConfigureHost(const Napi::CallbackInfo& info) {
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

Napi::Value TapDevice::HostMac(const Napi::CallbackInfo& info) {
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

Napi::Value TapDevice::HostMtu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env, "ioctl(SIOCGIFMTU)")) return env.Undefined();
  int rc = ustack::tap::get_mtu(name_);
  if (rc < 0) {
    ThrowSystem(env, -rc, "ioctl(SIOCGIFMTU)", name_);
    return env.Undefined();
  }
  return Napi::Number::New(env, rc);
}

Napi::Value TapDevice::HostFlags(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env, "ioctl(SIOCGIFFLAGS)")) return env.Undefined();
  int rc = ustack::tap::get_flags(name_);
  if (rc < 0) {
    ThrowSystem(env, -rc, "ioctl(SIOCGIFFLAGS)", name_);
    return env.Undefined();
  }
  return Napi::Number::New(env, rc);
}

// armWake(): one-shot; idempotent while armed; nothing once the device is
// gone (its fd never becomes readable again, only erroneous).
Napi::Value TapDevice::ArmWake(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env, "uv_poll_start")) return env.Undefined();
  if (Gone()) return env.Undefined();
  int rc = Arm();
  if (rc < 0) {
    ThrowSystem(env, -rc, "uv_poll_start", name_);
    return env.Undefined();
  }
  return env.Undefined();
}

Napi::Value TapDevice::Stats(const Napi::CallbackInfo& info) {
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
  o.Set("wakeErrors", Napi::Number::New(env, static_cast<double>(wake_errors())));
  o.Set("deviceGone", Napi::Number::New(env, Gone() ? 1 : 0));
  o.Set("goneErrno", Napi::Number::New(env, c.gone_errno));
  o.Set("rxGsoFrames", Napi::Number::New(env, static_cast<double>(c.rx_gso_frames)));
  o.Set("rxGsoBytes", Napi::Number::New(env, static_cast<double>(c.rx_gso_bytes)));
  o.Set("rxCsumPartial", Napi::Number::New(env, static_cast<double>(c.rx_csum_partial)));
  o.Set("rxCsumValid", Napi::Number::New(env, static_cast<double>(c.rx_csum_valid)));
  o.Set("rxCsumCompleted", Napi::Number::New(env, static_cast<double>(c.rx_csum_completed)));
  o.Set("rxLargest", Napi::Number::New(env, static_cast<double>(c.rx_largest)));
  o.Set("txGsoFrames", Napi::Number::New(env, static_cast<double>(c.tx_gso_frames)));
  o.Set("txGsoBytes", Napi::Number::New(env, static_cast<double>(c.tx_gso_bytes)));
  o.Set("txCsumOffload", Napi::Number::New(env, static_cast<double>(c.tx_csum_offload)));
  o.Set("txLargest", Napi::Number::New(env, static_cast<double>(c.tx_largest)));
  return o;
}

// close(): stops and closes the poll handle, closes the fd. Idempotent.
Napi::Value TapDevice::Close(const Napi::CallbackInfo& info) {
  CloseAll();
  ResetWakeCallback();
  pool_.Reset();
  return info.Env().Undefined();
}

// Safe from the finalizer: touches only libuv and the fd, never JS.
void TapDevice::CloseAll() {
  ClosePoll();
  if (fd_ >= 0) {
    ustack::tap::close_tap(fd_);
    fd_ = -1;
  }
}

}  // namespace ustack::napi
