// XdpDevice: see xdp_device.h. Built with C++ exceptions disabled: every
// failure is thrown with ...ThrowAsJavaScriptException() followed by a return.
#include "napi/xdp_device.h"

#include <arpa/inet.h>

#include <cstdio>
#include <string>

#include "napi/errors.h"
#include "xdp/program.h"

namespace ustack::napi {

namespace slots = ustack::slots;

Napi::Function XdpDevice::Define(Napi::Env env) {
  Properties props = {
      InstanceAccessor<&XdpDevice::GetPool>("pool"),
      InstanceAccessor<&XdpDevice::GetSlotSize>("slotSize"),
      InstanceAccessor<&XdpDevice::GetSlotCount>("slotCount"),
      InstanceAccessor<&XdpDevice::GetMaxFrame>("maxFrame"),
      InstanceAccessor<&XdpDevice::GetMac>("mac"),
      InstanceAccessor<&XdpDevice::GetMtu>("mtu"),
      InstanceAccessor<&XdpDevice::GetIfindex>("ifindex"),
      InstanceAccessor<&XdpDevice::GetQueue>("queue"),
      InstanceAccessor<&XdpDevice::GetQueueCount>("queueCount"),
      InstanceAccessor<&XdpDevice::GetMode>("mode"),
      InstanceAccessor<&XdpDevice::GetZerocopy>("zerocopy"),
      InstanceAccessor<&XdpDevice::GetProgramId>("programId"),
      InstanceAccessor<&XdpDevice::GetLinkId>("linkId"),
      InstanceAccessor<&XdpDevice::GetFd>("fd"),
      InstanceMethod<&XdpDevice::Start>("start"),
      InstanceAccessor<&XdpDevice::GetShared>("shared"),
      InstanceMethod<&XdpDevice::SetAddresses>("setAddresses"),
      InstanceMethod<&XdpDevice::SetAddresses6>("setAddresses6"),
      InstanceMethod<&XdpDevice::SetMulticast>("setMulticast"),
      InstanceMethod<&XdpDevice::SetPorts>("setPorts"),
      InstanceMethod<&XdpDevice::Neighbor>("neighbor"),
      InstanceMethod<&XdpDevice::RxBurst>("rxBurst"),
      InstanceMethod<&XdpDevice::TxBurst>("txBurst"),
      InstanceMethod<&XdpDevice::TxReclaim>("txReclaim"),
      InstanceMethod<&XdpDevice::TakeCompleted>("takeCompleted"),
      InstanceMethod<&XdpDevice::ArmWake>("armWake"),
      InstanceMethod<&XdpDevice::Stats>("stats"),
      InstanceMethod<&XdpDevice::Close>("close"),
  };
  AddWakeMethods(&props);  // setWakeCallback, ref, unref, hasRef
  return DefineClass(env, "XdpDevice", props);
}

XdpDevice::XdpDevice(const Napi::CallbackInfo& info) : PolledDevice<XdpDevice>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE", "new XdpDevice(ifname: string, options?)");
    return;
  }
  ifname_ = info[0].As<Napi::String>().Utf8Value();
  // An interface name the kernel can hold (IFNAMSIZ with its NUL), with no NUL inside.
  if (ifname_.empty() || ifname_.size() > 15 || ifname_.find('\0') != std::string::npos) {
    ThrowCoded(env, true, "ERR_INVALID_ARG_VALUE", "new XdpDevice: ifname must be 1 to 15 characters, without NUL");
    return;
  }
  if (info.Length() >= 2 && !info[1].IsUndefined() && !info[1].IsObject()) {
    ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE", "new XdpDevice: options must be an object");
    return;
  }
  ustack::xdp::Options opts;
  if (info.Length() >= 2 && info[1].IsObject()) {
    Napi::Object o = info[1].As<Napi::Object>();
    auto num = [&](const char* k, uint32_t* out) {
      Napi::Value v = o.Get(k);
      if (v.IsUndefined()) return true;
      double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
      if (!(d >= 0 && d <= 4294967295.0) || d != static_cast<double>(static_cast<uint32_t>(d))) {
        ThrowRange(env, std::string("options.") + k + " must be an integer in [0, 2^32)");
        return false;
      }
      *out = static_cast<uint32_t>(d);
      return true;
    };
    auto text = [&](const char* k, std::string* out) {
      Napi::Value v = o.Get(k);
      if (v.IsUndefined()) return true;
      if (!v.IsString()) {
        ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE", std::string("options.") + k + " must be a string");
        return false;
      }
      *out = v.As<Napi::String>().Utf8Value();
      return true;
    };
    auto flag = [&](const char* k, bool* out) {
      Napi::Value v = o.Get(k);
      if (v.IsUndefined()) return true;
      if (!v.IsBoolean()) {
        ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE", std::string("options.") + k + " must be a boolean");
        return false;
      }
      *out = v.As<Napi::Boolean>().Value();
      return true;
    };
    uint32_t eph_lo = 0, eph_hi = 0;
    Napi::Value q = o.Get("queue");
    if (env.IsExceptionPending()) return;
    if (q.IsString() && q.As<Napi::String>().Utf8Value() == "all") {
      opts.all_queues = true;
    } else if (!num("queue", &opts.queue)) {
      return;
    }
    uint32_t umem_fd = 0xffffffffu, umem_page = 0;
    if (!num("slotCount", &opts.slot_count) || !num("ringSize", &opts.ring_size) ||
        !num("ephemeralLow", &eph_lo) || !num("ephemeralHigh", &eph_hi) || !num("umemFd", &umem_fd) ||
        !num("umemPage", &umem_page) || !num("foreignFrom", &opts.foreign_from)) {
      return;
    }
    // A shard owner's region: the UMEM from its memfd, at a page of it.
    if (umem_fd != 0xffffffffu) {
      opts.umem_fd = static_cast<int>(umem_fd);
      opts.umem_offset = static_cast<uint64_t>(umem_page) * 4096;
    }
    if (eph_lo > 65535 || eph_hi > 65535) {
      ThrowRange(env, "options.ephemeralLow/ephemeralHigh must be ports (0..65535)");
      return;
    }
    if (!flag("shared", &opts.shared)) return;
    opts.ephemeral_low = static_cast<uint16_t>(eph_lo);
    opts.ephemeral_high = static_cast<uint16_t>(eph_hi);
    std::string mode = "auto", zc = "auto";
    if (!text("mode", &mode) || !text("zerocopy", &zc)) return;
    if (mode == "native") opts.mode = ustack::xdp::Mode::kNative;
    else if (mode == "generic") opts.mode = ustack::xdp::Mode::kGeneric;
    else if (mode != "auto") {
      ThrowCoded(env, true, "ERR_INVALID_ARG_VALUE", "options.mode must be 'auto', 'native' or 'generic'");
      return;
    }
    if (zc == "on") opts.zerocopy = ustack::xdp::ZeroCopy::kOn;
    else if (zc == "off") opts.zerocopy = ustack::xdp::ZeroCopy::kOff;
    else if (zc != "auto") {
      ThrowCoded(env, true, "ERR_INVALID_ARG_VALUE", "options.zerocopy must be 'auto', 'on' or 'off'");
      return;
    }
    if (!flag("busyPoll", &opts.busy_poll)) return;
  }
  ustack::Error err;
  if (dev_.open(ifname_, opts, &err) < 0) {
    ThrowError(env, err, ifname_);
    return;
  }
  int rc = InitPoll(env, dev_.fd());
  if (rc != 0) {
    dev_.close();
    if (rc == kNoLoop) ThrowCoded(env, false, "ERR_USTACK_NO_LOOP", "XdpDevice: no libuv event loop");
    else ThrowSystem(env, -rc, "uv_poll_init", ifname_);
    return;
  }
}

// The pool as one external ArrayBuffer over the UMEM's frames, made once; a
// view hold keeps its addresses mapped (zero pages after close) while any
// ArrayBuffer over it lives (as E1000Device::GetPool).
Napi::Value XdpDevice::GetPool(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!pool_ref_.IsEmpty()) return pool_ref_.Value();
  if (!dev_.is_open()) {
    ThrowCoded(env, false, "ERR_USTACK_CLOSED", "XdpDevice: device is closed");
    return env.Undefined();
  }
  return ExposePool(env, pool_ref_, dev_.pool(), dev_.pool_bytes(), "XdpDevice: the UMEM");
}

Napi::Value XdpDevice::GetSlotSize(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), dev_.slot_size()); }
Napi::Value XdpDevice::GetSlotCount(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), dev_.slot_count()); }
Napi::Value XdpDevice::GetMaxFrame(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), dev_.max_frame()); }
Napi::Value XdpDevice::GetMtu(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), dev_.mtu()); }
Napi::Value XdpDevice::GetIfindex(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), dev_.ifindex()); }
Napi::Value XdpDevice::GetQueue(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), dev_.queue()); }
Napi::Value XdpDevice::GetQueueCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), dev_.queue_count());
}
Napi::Value XdpDevice::GetMode(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), dev_.native() ? "native" : "generic");
}
Napi::Value XdpDevice::GetZerocopy(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), dev_.zerocopy()); }
Napi::Value XdpDevice::GetProgramId(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), dev_.prog_id()); }
Napi::Value XdpDevice::GetLinkId(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), dev_.link_id()); }
Napi::Value XdpDevice::GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), dev_.fd()); }

Napi::Value XdpDevice::GetMac(const Napi::CallbackInfo& info) {
  const uint8_t* m = dev_.mac();
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return Napi::String::New(info.Env(), buf);
}

// start(freeStack: Uint32Array)
Napi::Value XdpDevice::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!dev_.is_open()) {
    ThrowCoded(env, false, "ERR_USTACK_CLOSED", "XdpDevice: device is closed");
    return env.Undefined();
  }
  uint32_t* data = nullptr;
  size_t len = 0;
  if (info.Length() < 1 || !GetU32Array(env, info[0], &data, &len, "freeStack")) return env.Undefined();
  if (len < static_cast<size_t>(dev_.slot_count()) + 1 || data[0] > dev_.slot_count()) {
    ThrowRange(env, "freeStack must hold slotCount + 1 entries and a valid count");
    return env.Undefined();
  }
  if (!free_stack_.Hold(env, info[0], len * sizeof(uint32_t), "freeStack")) return env.Undefined();
  ustack::Error err;
  if (dev_.start(data, static_cast<uint32_t>(len - 1), &err) < 0) {
    ThrowError(env, err, ifname_);
    return env.Undefined();
  }
  return env.Undefined();
}

// setAddresses(addresses: number[]): the stack's IPv4 addresses as 32-bit
// numbers (host order, as the stack keeps them).
Napi::Value XdpDevice::SetAddresses(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) {
    ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE", "setAddresses(addresses: number[])");
    return env.Undefined();
  }
  Napi::Array a = info[0].As<Napi::Array>();
  uint32_t n = a.Length();
  if (n > 64) {
    ThrowRange(env, "setAddresses: at most 64 addresses");
    return env.Undefined();
  }
  std::vector<uint32_t> wire(n);
  for (uint32_t i = 0; i < n; i++) {
    Napi::Value v = a.Get(i);
    if (env.IsExceptionPending()) return env.Undefined();
    double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 0 && d <= 4294967295.0) || d != static_cast<double>(static_cast<uint32_t>(d))) {
      ThrowRange(env, "setAddresses: each address must be an integer in [0, 2^32)");
      return env.Undefined();
    }
    wire[i] = htonl(static_cast<uint32_t>(d));
  }
  int rc = dev_.set_addresses(wire.data(), n);
  if (rc < 0) ThrowSystem(env, -rc, "bpf(BPF_MAP_UPDATE_ELEM)", ifname_);
  return env.Undefined();
}

// setAddresses6(keys: Uint8Array): the IPv6 map's keys (program.h), 16
// bytes each as on the wire; at most 64. Copied before use.
Napi::Value XdpDevice::SetAddresses6(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE", "setAddresses6(keys: Uint8Array)");
    return env.Undefined();
  }
  Napi::Uint8Array a = info[0].As<Napi::Uint8Array>();
  size_t len = a.ByteLength();
  if (len % 16 != 0 || len / 16 > 64) {
    ThrowRange(env, "setAddresses6: the keys must be whole 16-byte addresses, at most 64");
    return env.Undefined();
  }
  std::vector<uint8_t> keys(a.Data(), a.Data() + len);
  int rc = dev_.set_addresses6(keys.data(), static_cast<uint32_t>(len / 16));
  if (rc < 0) ThrowSystem(env, -rc, "bpf(BPF_MAP_UPDATE_ELEM)", ifname_);
  return env.Undefined();
}

// setMulticast(macs: Uint8Array): the groups the interface must receive for
// the stack (ReadMulticastGroups).
Napi::Value XdpDevice::SetMulticast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<uint8_t> macs;
  if (!ReadMulticastGroups(info, &macs)) return env.Undefined();
  int rc = dev_.set_multicast(macs.data(), static_cast<uint32_t>(macs.size() / 6));
  if (rc < 0) ThrowSystem(env, -rc, "setsockopt(PACKET_ADD_MEMBERSHIP)", ifname_);
  return env.Undefined();
}

Napi::Value XdpDevice::GetShared(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), dev_.shared()); }

// setPorts(keys: number[]): shared mode's listening ports, each protocol << 16 | port.
Napi::Value XdpDevice::SetPorts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) {
    ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE", "setPorts(keys: number[])");
    return env.Undefined();
  }
  if (!dev_.shared()) {
    ThrowCoded(env, false, "ERR_USTACK_NOT_SHARED", "setPorts: the device is not in shared-address mode");
    return env.Undefined();
  }
  Napi::Array a = info[0].As<Napi::Array>();
  uint32_t n = a.Length();
  if (n > 1024) {
    ThrowRange(env, "setPorts: at most 1024 ports");
    return env.Undefined();
  }
  std::vector<uint32_t> keys(n);
  for (uint32_t i = 0; i < n; i++) {
    Napi::Value v = a.Get(i);
    if (env.IsExceptionPending()) return env.Undefined();
    double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    // Range first: converting a negative, NaN or too large double to uint32_t is undefined.
    bool ok = d >= 0 && d <= 4294967295.0 && d == static_cast<double>(static_cast<uint32_t>(d));
    uint32_t k = ok ? static_cast<uint32_t>(d) : 0;
    if (!ok || ((k >> 16) != 6 && (k >> 16) != 17)) {
      ThrowRange(env, "setPorts: each key must be protocol << 16 | port, protocol 6 (TCP) or 17 (UDP)");
      return env.Undefined();
    }
    keys[i] = k;
  }
  int rc = dev_.set_ports(keys.data(), n);
  if (rc < 0) ThrowSystem(env, -rc, "bpf(BPF_MAP_UPDATE_ELEM)", ifname_);
  return env.Undefined();
}

// neighbor(ip: number): the kernel's MAC for ip ('aa:bb:..'), or null after
// asking the kernel to resolve it (shared mode: the kernel keeps ARP).
Napi::Value XdpDevice::Neighbor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double d = info.Length() >= 1 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= 0 && d <= 4294967295.0) || d != static_cast<double>(static_cast<uint32_t>(d))) {
    ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE", "neighbor(ip: number) takes a 32-bit IPv4 address");
    return env.Undefined();
  }
  uint8_t m[6];
  if (dev_.neighbor(htonl(static_cast<uint32_t>(d)), m) < 0) return env.Null();
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return Napi::String::New(env, buf);
}

// As E1000Device::FreeStackUsable: a detached or shrunk free stack stops the device.
bool XdpDevice::FreeStackUsable(Napi::Env env) {
  if (free_stack_.IsEmpty() || free_stack_.Usable(env)) return true;
  CloseAll();
  free_stack_.Get(env, "XdpDevice: the free stack");  // throws ERR_USTACK_BUFFER_DETACHED
  return false;
}

Napi::Value XdpDevice::RxBurst(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!burst_.Read(info, BurstArrays::Inputs::kNone)) return env.Undefined();
  if (!dev_.is_open()) return Napi::Number::New(env, 0);
  if (!FreeStackUsable(env)) return env.Undefined();
  return Napi::Number::New(env, dev_.rx_burst(burst_.out_slots(), burst_.out_lens(), burst_.count()));
}

Napi::Value XdpDevice::TxBurst(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!burst_.Read(info, BurstArrays::Inputs::kSlotsAndLens)) return env.Undefined();
  if (!dev_.is_open()) return Napi::Number::New(env, 0);
  if (!FreeStackUsable(env)) return env.Undefined();
  if (!CheckTxBurst(env, dev_.slot_count(), slots::kMinFrame, dev_.max_frame(), "the largest frame (slotSize - 256)")) {
    return env.Undefined();
  }
  slots::Refusal why;
  uint32_t slot = 0;
  uint32_t sent = dev_.tx_burst(burst_.slots(), burst_.lens(), burst_.count(), &why, &slot);
  if (why != slots::Refusal::kNone) {
    const char* what = why == slots::Refusal::kOnFreeStack ? "is free (released, or never allocated)"
                       : why == slots::Refusal::kInRx    ? "is with the kernel for receiving"
                       : why == slots::Refusal::kInTx    ? "is being sent already (twice in a burst, or not yet completed)"
                                                         : "is not a slot of the pool";
    ThrowCoded(env, false, "ERR_USTACK_SLOT_NOT_OWNED", "XdpDevice.txBurst: slot " + std::to_string(slot) + " " + what);
    return env.Undefined();
  }
  return Napi::Number::New(env, sent);
}

// takeCompleted(slots: Uint32Array): foreign slots (options.foreignFrom)
// whose transmit completed, written into slots; returns how many.
Napi::Value XdpDevice::TakeCompleted(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t* data = nullptr;
  size_t len = 0;
  if (info.Length() < 1 || !GetU32Array(env, info[0], &data, &len, "slots")) return env.Undefined();
  if (!dev_.is_open()) return Napi::Number::New(env, 0);
  return Napi::Number::New(env, dev_.take_completed(data, len > 0xffffffffu ? 0xffffffffu : static_cast<uint32_t>(len)));
}

Napi::Value XdpDevice::TxReclaim(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!dev_.is_open()) return Napi::Number::New(env, 0);
  if (!FreeStackUsable(env)) return env.Undefined();
  return Napi::Number::New(env, dev_.reclaim());
}

// armWake(): true when a frame is already waiting, or frames wait in the TX
// ring for a kick (do not sleep); false when armed, and after close().
Napi::Value XdpDevice::ArmWake(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!dev_.is_open()) return Napi::Boolean::New(env, false);
  int rc = Arm();
  if (rc < 0) {
    ThrowSystem(env, -rc, "uv_poll_start", ifname_);
    return env.Undefined();
  }
  return Napi::Boolean::New(env, dev_.rx_pending() || dev_.flush_tx());
}

Napi::Value XdpDevice::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ustack::xdp::Counters& c = dev_.counters();
  const slots::Faults& sf = dev_.slot_faults();
  xdp_statistics ks = dev_.kernel_stats();
  Napi::Object o = Napi::Object::New(env);
  auto set = [&](const char* k, uint64_t v) { o.Set(k, Napi::Number::New(env, static_cast<double>(v))); };
  set("rxFrames", c.rx_frames);
  set("rxBytes", c.rx_bytes);
  set("rxBadDescriptor", c.rx_bad_desc);
  set("rxMoved", c.rx_moved);
  set("fillEmpty", c.fill_empty);
  set("fillKicks", c.fill_kicks);
  set("busyPolls", c.busy_polls);
  set("txFrames", c.tx_frames);
  set("txBytes", c.tx_bytes);
  set("txRingFull", c.tx_ring_full);
  set("txKicks", c.tx_kicks);
  set("txKickAgain", c.tx_kick_again);
  set("txKickBusy", c.tx_kick_busy);
  set("txKickErrors", c.tx_kick_errors);
  set("lastTxErrno", static_cast<uint64_t>(c.last_tx_errno));
  set("completions", c.completions);
  set("inKernelRx", dev_.in_kernel_rx());
  set("badCompletions", c.bad_completions);
  set("staleProgramsReplaced", dev_.stale_replaced());
  set("freeStackBadIndex", sf.bad_index);
  set("freeStackInRing", sf.in_ring);
  set("freeStackDuplicate", sf.duplicate);
  set("freeStackCountClamped", sf.count_clamped);
  set("freeStackPushRefused", sf.push_refused);
  set("wakeErrors", wake_errors());
  // The XDP program's verdicts on the stack's frames.
  set("programRedirected", dev_.program_counter(ustack::xdp::kRedirected));
  set("programNoSocketOnQueue", dev_.program_counter(ustack::xdp::kNoSocketOnQueue));
  // The kernel's counts for the socket (XDP_STATISTICS): drops by reason.
  set("kernelRxDropped", ks.rx_dropped);
  set("kernelRxInvalid", ks.rx_invalid_descs);
  set("kernelTxInvalid", ks.tx_invalid_descs);
  set("kernelRxRingFull", ks.rx_ring_full);
  set("kernelFillRingEmpty", ks.rx_fill_ring_empty_descs);
  set("kernelTxRingEmpty", ks.tx_ring_empty_descs);
  return o;
}

// close(): detaches the program (the link goes), closes the socket, detaches
// the pool ArrayBuffer, then unmaps the UMEM. Idempotent.
Napi::Value XdpDevice::Close(const Napi::CallbackInfo& info) {
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

void XdpDevice::CloseAll() {
  ClosePoll();
  dev_.close();
}

}  // namespace ustack::napi
