// ShmPort: see shm_port.h. Built with C++ exceptions disabled: every failure
// is thrown with Throw* followed by a return.
#include "napi/shm_port.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "napi/errors.h"

namespace ustack::napi {

namespace shm = ustack::shm;

namespace {
bool FdOption(Napi::Env env, Napi::Object o, const char* k, int* out) {
  Napi::Value v = o.Get(k);
  if (env.IsExceptionPending()) return false;
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= 0 && d <= 1 << 20) || d != static_cast<double>(static_cast<int>(d))) {
    ThrowCoded(env, true, "ERR_INVALID_ARG_VALUE", std::string("options.") + k + " must be a file descriptor number");
    return false;
  }
  *out = static_cast<int>(d);
  return true;
}

// An inherited fd the worker must be able to use: open, and (for the wake-up
// fds) not the region. -errno otherwise.
int CheckFd(int fd) {
  struct stat st;
  return ::fstat(fd, &st) < 0 ? -errno : 0;
}

uint32_t NumberArg(const Napi::CallbackInfo& info, size_t i, uint32_t max) {
  if (info.Length() <= i || !info[i].IsNumber()) return max + 1;
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= max) || d != static_cast<double>(static_cast<uint32_t>(d))) return max + 1;
  return static_cast<uint32_t>(d);
}
}  // namespace

Napi::Function ShmPort::Define(Napi::Env env) {
  Properties props = {
      InstanceAccessor<&ShmPort::GetPool>("pool"),
      InstanceAccessor<&ShmPort::GetSlotSize>("slotSize"),
      InstanceAccessor<&ShmPort::GetSlotCount>("slotCount"),
      InstanceAccessor<&ShmPort::GetFirstSlot>("firstSlot"),
      InstanceAccessor<&ShmPort::GetOwnSlots>("ownSlots"),
      InstanceAccessor<&ShmPort::GetPlace>("place"),
      InstanceMethod<&ShmPort::Start>("start"),
      InstanceMethod<&ShmPort::RxBurst>("rxBurst"),
      InstanceMethod<&ShmPort::TxBurst>("txBurst"),
      InstanceMethod<&ShmPort::Release>("release"),
      InstanceMethod<&ShmPort::Flow>("flow"),
      InstanceMethod<&ShmPort::SteersHere>("steersHere"),
      InstanceMethod<&ShmPort::ArmWake>("armWake"),
      InstanceMethod<&ShmPort::Stats>("stats"),
      InstanceMethod<&ShmPort::Close>("close"),
  };
  AddWakeMethods(&props);
  return DefineClass(env, "ShmPort", props);
}

ShmPort::ShmPort(const Napi::CallbackInfo& info) : PolledDevice<ShmPort>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE", "new ShmPort({ fd, place, wakeFd, ownerWakeFd })");
    return;
  }
  Napi::Object o = info[0].As<Napi::Object>();
  int fd = -1, place = -1, wake = -1, owner_wake = -1;
  if (!FdOption(env, o, "fd", &fd) || !FdOption(env, o, "place", &place) || !FdOption(env, o, "wakeFd", &wake) ||
      !FdOption(env, o, "ownerWakeFd", &owner_wake)) {
    return;
  }
  for (int f : {wake, owner_wake}) {
    int rc = CheckFd(f);
    if (rc < 0) {
      ThrowSystem(env, -rc, "fstat", "wake-up fd " + std::to_string(f));
      return;
    }
  }
  auto region = std::make_unique<shm::Region>();
  ustack::Error err;
  if (region->attach(fd, &err) < 0) {
    ThrowError(env, err, "shared region fd " + std::to_string(fd));
    return;
  }
  if (!port_.attach(region.get(), static_cast<uint32_t>(place))) {
    ThrowRange(env, "ShmPort: place " + std::to_string(place) + " is not a place of the region");
    return;
  }
  region_ = std::move(region);
  wake_fd_ = wake;
  owner_wake_fd_ = owner_wake;
  int rc = InitPoll(env, wake_fd_);
  if (rc != 0) {
    CloseAll();
    if (rc == kNoLoop) ThrowCoded(env, false, "ERR_USTACK_NO_LOOP", "ShmPort: no libuv event loop");
    else ThrowSystem(env, -rc, "uv_poll_init", "shared region");
  }
}

bool ShmPort::CheckOpen(Napi::Env env) {
  if (region_ != nullptr) return true;
  ThrowCoded(env, false, "ERR_USTACK_CLOSED", "ShmPort: closed");
  return false;
}

void ShmPort::OnWakeUp() {
  uint64_t v;
  ssize_t rc = ::read(wake_fd_, &v, sizeof v);  // non-blocking: clears the count
  (void)rc;
}

void ShmPort::Publish() {
  if (port_.publish()) {
    uint64_t one = 1;
    ssize_t rc = ::write(owner_wake_fd_, &one, sizeof one);
    (void)rc;
  }
}

bool ShmPort::AttachStack(Napi::Env env) {
  if (free_stack_.IsEmpty()) {
    ThrowCoded(env, false, "ERR_USTACK_NOT_STARTED", "ShmPort: start(freeStack) first");
    return false;
  }
  uint8_t* p = free_stack_.Get(env, "ShmPort: the free stack");
  if (p == nullptr) return false;
  port_.set_free_stack(reinterpret_cast<uint32_t*>(p), stack_cap_);
  return true;
}

Napi::Value ShmPort::GetPool(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!pool_ref_.IsEmpty()) return pool_ref_.Value();
  if (!CheckOpen(env)) return env.Undefined();
  return ExposePool(env, pool_ref_, region_->pool(), region_->pool_bytes(), "ShmPort: the pool");
}

Napi::Value ShmPort::GetSlotSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), region_ != nullptr ? region_->header()->slot_size : 0);
}
Napi::Value ShmPort::GetSlotCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), region_ != nullptr ? region_->header()->slot_count : 0);
}
Napi::Value ShmPort::GetFirstSlot(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), port_.first_slot()); }
Napi::Value ShmPort::GetOwnSlots(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), port_.own_slots()); }
Napi::Value ShmPort::GetPlace(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), port_.place()); }

// start(freeStack: Uint32Array of ownSlots + 1): [count, slot...].
Napi::Value ShmPort::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  uint32_t* data = nullptr;
  size_t len = 0;
  if (info.Length() < 1 || !GetU32Array(env, info[0], &data, &len, "freeStack")) return env.Undefined();
  if (len < static_cast<size_t>(port_.own_slots()) + 1 || data[0] > port_.own_slots()) {
    ThrowRange(env, "freeStack must hold ownSlots + 1 entries and a valid count");
    return env.Undefined();
  }
  if (!free_stack_.Hold(env, info[0], len * sizeof(uint32_t), "freeStack")) return env.Undefined();
  stack_cap_ = port_.own_slots();
  return env.Undefined();
}

// rxBurst(slots, lens, max, flags?): received frames (owner slots); the
// owner's returns of our own slots land on the free stack on the way.
Napi::Value ShmPort::RxBurst(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!burst_.Read(info, BurstArrays::Inputs::kNone)) return env.Undefined();
  if (region_ == nullptr) return Napi::Number::New(env, 0);
  if (!AttachStack(env)) return env.Undefined();
  uint8_t* flags = nullptr;
  uint32_t n = burst_.count();
  if (info.Length() >= 4 && !info[3].IsUndefined() && !info[3].IsNull()) {
    napi_typedarray_type type;
    size_t len = 0;
    void* ptr = nullptr;
    if (napi_get_typedarray_info(env, info[3], &type, &len, &ptr, nullptr, nullptr) != napi_ok || type != napi_uint8_array) {
      ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE", "The \"flags\" argument must be a Uint8Array");
      return env.Undefined();
    }
    if (len < n) n = static_cast<uint32_t>(len);
    flags = static_cast<uint8_t*>(ptr);
  }
  port_.awake();  // polling: the owner owes no wake-up
  uint32_t got = port_.rx_burst(burst_.out_slots(), burst_.out_lens(), flags, n);
  port_.clear_free_stack();
  return Napi::Number::New(env, got);
}

// txBurst(slots, lens, n): queues frames for the owner to send; returns how
// many the ring took. Slots must be pool slots, lengths 14..slotSize.
Napi::Value ShmPort::TxBurst(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!burst_.Read(info, BurstArrays::Inputs::kSlotsAndLens)) return env.Undefined();
  if (region_ == nullptr) return Napi::Number::New(env, 0);
  if (!CheckTxBurst(env, region_->header()->slot_count, 14, region_->header()->slot_size, "slotSize")) return env.Undefined();
  uint32_t taken = port_.tx_burst(burst_.slots(), burst_.lens(), burst_.count());
  Publish();
  return Napi::Number::New(env, taken);
}

// release(slots, _, n): owner slots this worker is done with.
Napi::Value ShmPort::Release(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!burst_.Read(info, BurstArrays::Inputs::kSlots)) return env.Undefined();
  if (region_ == nullptr) return Napi::Number::New(env, 0);
  if (!burst_.CheckSlots(env, region_->header()->slot_count)) return env.Undefined();
  uint32_t taken = port_.release(burst_.slots(), burst_.count());
  Publish();
  return Napi::Number::New(env, taken);
}

// flow(add, proto, localAddr, localPort, remoteAddr, remotePort): a
// connection opened or closed; false when the ring had no room.
Napi::Value ShmPort::Flow(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (region_ == nullptr) return Napi::Boolean::New(env, false);
  uint32_t proto = NumberArg(info, 1, 255), la = NumberArg(info, 2, 0xffffffffu - 1), lp = NumberArg(info, 3, 65535),
           ra = NumberArg(info, 4, 0xffffffffu - 1), rp = NumberArg(info, 5, 65535);
  if (info.Length() < 6 || proto > 255 || lp > 65535 || rp > 65535 || la == 0xffffffffu || ra == 0xffffffffu) {
    ThrowCoded(env, true, "ERR_INVALID_ARG_VALUE", "flow(add, proto, localAddr, localPort, remoteAddr, remotePort)");
    return env.Undefined();
  }
  bool ok = port_.flow(info[0].ToBoolean().Value(), static_cast<uint8_t>(proto), la, static_cast<uint16_t>(lp), ra,
                       static_cast<uint16_t>(rp));
  Publish();
  return Napi::Boolean::New(env, ok);
}

// steersHere(localAddr, localPort, remoteAddr, remotePort): whether replies
// to that flow reach this worker by the indirection table.
Napi::Value ShmPort::SteersHere(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (region_ == nullptr) return Napi::Boolean::New(env, false);
  uint32_t la = NumberArg(info, 0, 0xffffffffu - 1), lp = NumberArg(info, 1, 65535), ra = NumberArg(info, 2, 0xffffffffu - 1),
           rp = NumberArg(info, 3, 65535);
  return Napi::Boolean::New(env, port_.steers_here(la, static_cast<uint16_t>(lp), ra, static_cast<uint16_t>(rp)));
}

// armWake(): arms the poll on our eventfd and marks us asleep; true when a
// frame already waits (do not sleep).
Napi::Value ShmPort::ArmWake(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (region_ == nullptr) return Napi::Boolean::New(env, false);
  int rc = Arm();
  if (rc < 0) {
    ThrowSystem(env, -rc, "uv_poll_start", "shared region");
    return env.Undefined();
  }
  return Napi::Boolean::New(env, !port_.prepare_sleep());
}

Napi::Value ShmPort::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const shm::PortCounters& c = port_.counters();
  Napi::Object o = Napi::Object::New(env);
  auto set = [&](const char* k, uint64_t v) { o.Set(k, Napi::Number::New(env, static_cast<double>(v))); };
  set("rxFrames", c.rx_frames);
  set("rxBytes", c.rx_bytes);
  set("returns", c.returns);
  set("txFrames", c.tx_frames);
  set("txBytes", c.tx_bytes);
  set("txRingFull", c.tx_ring_full);
  set("releases", c.releases);
  set("flowNotices", c.flow_notices);
  set("badEntries", c.bad_entries);
  set("ownerWakeups", c.owner_wakeups);
  return o;
}

Napi::Value ShmPort::Close(const Napi::CallbackInfo& info) {
  CloseAll();
  ResetWakeCallback();
  free_stack_.Reset();
  if (!pool_ref_.IsEmpty()) {
    Napi::ArrayBuffer ab = pool_ref_.Value();
    pool_ref_.Reset();
    if (!ab.IsDetached()) ab.Detach();
  }
  return info.Env().Undefined();
}

// The inherited fds are this object's: closed with it.
void ShmPort::CloseAll() {
  ClosePoll();
  port_.clear_free_stack();
  if (region_ != nullptr) {
    int fd = region_->fd();
    region_->unmap();
    region_.reset();
    if (fd >= 0) ::close(fd);
  }
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (owner_wake_fd_ >= 0) ::close(owner_wake_fd_);
  wake_fd_ = owner_wake_fd_ = -1;
}

}  // namespace ustack::napi
