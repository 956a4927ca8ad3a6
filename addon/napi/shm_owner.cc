// ShmOwner: see shm_owner.h. Built with C++ exceptions disabled: every
// failure is thrown with Throw* followed by a return.
#include "napi/shm_owner.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "dma/dma.h"
#include "napi/errors.h"

namespace ustack::napi {

namespace shm = ustack::shm;

namespace {
void write_event(int fd) {
  uint64_t one = 1;
  // Non-blocking: EAGAIN only when the counter is near 2^64, i.e. the
  // worker has a wake-up pending already.
  ssize_t rc = ::write(fd, &one, sizeof one);
  (void)rc;
}

bool U32Option(Napi::Env env, Napi::Object o, const char* k, uint32_t min, uint32_t max, uint32_t* out) {
  Napi::Value v = o.Get(k);
  if (env.IsExceptionPending()) return false;
  if (v.IsUndefined()) return true;
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= min && d <= max) || d != static_cast<double>(static_cast<uint32_t>(d))) {
    ThrowRange(env, std::string("options.") + k + " must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
    return false;
  }
  *out = static_cast<uint32_t>(d);
  return true;
}

uint32_t NumberArg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsNumber()) return 0xffffffffu;
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d < 4294967295.0) || d != static_cast<double>(static_cast<uint32_t>(d))) return 0xffffffffu;
  return static_cast<uint32_t>(d);
}
}  // namespace

Napi::Function ShmOwner::Define(Napi::Env env) {
  Properties props = {
      InstanceAccessor<&ShmOwner::GetPool>("pool"),
      InstanceAccessor<&ShmOwner::GetFd>("fd"),
      InstanceAccessor<&ShmOwner::GetWakeFd>("wakeFd"),
      InstanceAccessor<&ShmOwner::GetSlotSize>("slotSize"),
      InstanceAccessor<&ShmOwner::GetSlotCount>("slotCount"),
      InstanceAccessor<&ShmOwner::GetOwnerSlots>("ownerSlots"),
      InstanceAccessor<&ShmOwner::GetWorkerSlots>("workerSlots"),
      InstanceAccessor<&ShmOwner::GetPlaces>("places"),
      InstanceAccessor<&ShmOwner::GetFreeSlots>("freeSlots"),
      InstanceAccessor<&ShmOwner::GetUmemPage>("umemPage"),
      InstanceMethod<&ShmOwner::TakeRx>("takeRx"),
      InstanceMethod<&ShmOwner::Steer>("steer"),
      InstanceMethod<&ShmOwner::TxBatch>("txBatch"),
      InstanceMethod<&ShmOwner::TxDone>("txDone"),
      InstanceMethod<&ShmOwner::TxSent>("txSent"),
      InstanceMethod<&ShmOwner::TakeLocal>("takeLocal"),
      InstanceMethod<&ShmOwner::Deliver>("deliver"),
      InstanceMethod<&ShmOwner::GiveBack>("giveBack"),
      InstanceMethod<&ShmOwner::QueueTx>("queueTx"),
      InstanceMethod<&ShmOwner::AddWorker>("addWorker"),
      InstanceMethod<&ShmOwner::SetLive>("setLive"),
      InstanceMethod<&ShmOwner::RemoveWorker>("removeWorker"),
      InstanceMethod<&ShmOwner::Reta>("reta"),
      InstanceMethod<&ShmOwner::ArmWake>("armWake"),
      InstanceMethod<&ShmOwner::Stats>("stats"),
      InstanceMethod<&ShmOwner::Census>("census"),
      InstanceMethod<&ShmOwner::Trace>("trace"),
      InstanceMethod<&ShmOwner::Close>("close"),
  };
  AddWakeMethods(&props);  // setWakeCallback, ref, unref, hasRef
  return DefineClass(env, "ShmOwner", props);
}

ShmOwner::ShmOwner(const Napi::CallbackInfo& info) : PolledDevice<ShmOwner>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE", "new ShmOwner(options: object)");
    return;
  }
  Napi::Object o = info[0].As<Napi::Object>();
  shm::Layout l;
  uint32_t home = 0, quota = 0, flows = 65536, udp_low = 0, udp_high = 0;
  if (!U32Option(env, o, "slotSize", 64, 1u << 20, &l.slot_size) || !U32Option(env, o, "places", 1, shm::kMaxWorkers, &l.workers) ||
      !U32Option(env, o, "ownerSlots", 1, 1u << 22, &l.owner_slots) || !U32Option(env, o, "workerSlots", 1, 1u << 22, &l.worker_slots) ||
      !U32Option(env, o, "homeWorkers", 1, shm::kMaxWorkers, &home) || !U32Option(env, o, "rxQuota", 1, 1u << 22, &quota) ||
      !U32Option(env, o, "flowCapacity", 4, 1u << 24, &flows) || !U32Option(env, o, "udpEphemeralLow", 1, 65535, &udp_low) ||
      !U32Option(env, o, "udpEphemeralHigh", 1, 65535, &udp_high) || !U32Option(env, o, "poolShift", 0, 256, &l.pool_shift)) {
    return;
  }
  // hugePages: the memfd is MFD_HUGETLB, so a device can DMA into the pool by physical address (region.h).
  Napi::Value huge = o.Get("hugePages");
  if (env.IsExceptionPending()) return;
  if (!huge.IsUndefined() && !huge.IsBoolean()) {
    ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE", "ShmOwner: options.hugePages must be a boolean");
    return;
  }
  if (huge.IsBoolean() && huge.As<Napi::Boolean>().Value()) {
    l.huge_page = static_cast<uint32_t>(ustack::dma::huge_page_size());
    // Asked for and not there: say so now, not later as a mapping that is not huge-page memory.
    if (l.huge_page == 0) {
      ThrowCoded(env, false, "ERR_USTACK_NO_HUGEPAGES", "ShmOwner: hugePages asked for, but the kernel reports no huge page size (no hugetlbfs support)");
      return;
    }
  }
  if (home == 0) home = l.workers;
  if (quota == 0) quota = l.owner_slots;
  if (home > l.workers || quota > l.owner_slots || (flows & (flows - 1)) != 0 || l.slot_size % 64 != 0 ||
      (udp_low == 0) != (udp_high == 0) || udp_low > udp_high) {
    ThrowRange(env, "ShmOwner: homeWorkers <= places, rxQuota <= ownerSlots, flowCapacity a power of two, slotSize a multiple of 64, udpEphemeralLow <= udpEphemeralHigh (both or neither)");
    return;
  }
  auto region = std::make_unique<shm::Region>();
  ustack::Error err;
  if (region->create(l, &err) < 0) {
    ThrowError(env, err, "shared region");
    return;
  }
  auto owner = std::make_unique<shm::Owner>();
  if (!owner->init(region.get(), home, quota, flows)) {
    ThrowRange(env, "ShmOwner: options out of range");
    return;
  }
  owner->set_udp_ephemeral(static_cast<uint16_t>(udp_low), static_cast<uint16_t>(udp_high));
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    ThrowSystem(env, errno, "eventfd", "shared region");
    return;
  }
  region_ = std::move(region);
  owner_ = std::move(owner);
  worker_fds_.assign(l.workers, -1);
  int rc = InitPoll(env, wake_fd_);
  if (rc != 0) {
    CloseAll();
    if (rc == kNoLoop) ThrowCoded(env, false, "ERR_USTACK_NO_LOOP", "ShmOwner: no libuv event loop");
    else ThrowSystem(env, -rc, "uv_poll_init", "shared region");
  }
}

bool ShmOwner::CheckOpen(Napi::Env env) {
  if (region_ != nullptr) return true;
  ThrowCoded(env, false, "ERR_USTACK_CLOSED", "ShmOwner: closed");
  return false;
}

bool ShmOwner::PlaceArg(const Napi::CallbackInfo& info, size_t i, uint32_t* w) {
  *w = NumberArg(info, i);
  if (*w < worker_fds_.size()) return true;
  ThrowRange(info.Env(), "place must be an integer in [0, " + std::to_string(worker_fds_.size()) + ")");
  return false;
}

void ShmOwner::OnWakeUp() {
  uint64_t v;
  ssize_t rc = ::read(wake_fd_, &v, sizeof v);  // non-blocking: clears the count
  (void)rc;
}

void ShmOwner::WakeWorkers() {
  uint64_t m = owner_->take_wakes();
  for (uint32_t w = 0; m != 0 && w < worker_fds_.size(); w++, m >>= 1) {
    if ((m & 1) != 0 && worker_fds_[w] >= 0) write_event(worker_fds_[w]);
  }
}

// The pool as one external ArrayBuffer over the region's slots, made once; a
// view hold keeps its addresses mapped (zero pages after close) while any
// ArrayBuffer over it lives, as for the XDP UMEM.
Napi::Value ShmOwner::GetPool(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!pool_ref_.IsEmpty()) return pool_ref_.Value();
  if (!CheckOpen(env)) return env.Undefined();
  return ExposePool(env, pool_ref_, region_->pool(), region_->pool_bytes(), "ShmOwner: the pool");
}

Napi::Value ShmOwner::GetFd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), region_ != nullptr ? region_->fd() : -1);
}
Napi::Value ShmOwner::GetWakeFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), wake_fd_); }
Napi::Value ShmOwner::GetSlotSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), region_ != nullptr ? region_->header()->slot_size : 0);
}
Napi::Value ShmOwner::GetSlotCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), region_ != nullptr ? region_->header()->slot_count : 0);
}
Napi::Value ShmOwner::GetOwnerSlots(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), region_ != nullptr ? region_->header()->owner_slots : 0);
}
Napi::Value ShmOwner::GetWorkerSlots(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), region_ != nullptr ? region_->header()->worker_slots : 0);
}
Napi::Value ShmOwner::GetPlaces(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(worker_fds_.size()));
}

// The page of the region the pool's first slot lies in (an AF_XDP UMEM's start).
Napi::Value ShmOwner::GetUmemPage(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), region_ != nullptr ? static_cast<double>(region_->umem_offset() / shm::kPage) : 0);
}

Napi::Value ShmOwner::GetFreeSlots(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), owner_ != nullptr ? owner_->free_slots() : 0);
}

// takeRx(slots, _, n): lends up to n free owner slots for a receive burst.
Napi::Value ShmOwner::TakeRx(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!burst_.Read(info, BurstArrays::Inputs::kNone)) return env.Undefined();
  if (!CheckOpen(env)) return env.Undefined();
  return Napi::Number::New(env, owner_->take_rx(burst_.out_slots(), burst_.count()));
}

// steer(slots, lens, given, filled, flags?): the first `filled` of the
// `given` slots takeRx lent hold frames (lens, receive flags); the rest go back.
Napi::Value ShmOwner::Steer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!burst_.Read(info, BurstArrays::Inputs::kSlotsAndLens)) return env.Undefined();
  if (!CheckOpen(env)) return env.Undefined();
  uint32_t given = burst_.count();
  uint32_t filled = NumberArg(info, 3);
  if (filled > given) {
    ThrowRange(env, "steer: filled must be an integer in [0, n]");
    return env.Undefined();
  }
  if (!burst_.CheckSlots(env, region_->header()->slot_count)) return env.Undefined();
  const uint8_t* flags = nullptr;
  if (info.Length() >= 5 && !info[4].IsUndefined() && !info[4].IsNull()) {
    napi_typedarray_type type;
    size_t len = 0;
    void* ptr = nullptr;
    if (napi_get_typedarray_info(env, info[4], &type, &len, &ptr, nullptr, nullptr) != napi_ok || type != napi_uint8_array || len < filled) {
      ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE", "steer: flags must be a Uint8Array with a byte per frame");
      return env.Undefined();
    }
    flags_.assign(static_cast<uint8_t*>(ptr), static_cast<uint8_t*>(ptr) + filled);  // read once
    flags = flags_.data();
  }
  owner_->steer(burst_.slots(), burst_.lens(), flags, filled, given);
  WakeWorkers();
  return env.Undefined();
}

// txBatch(slots, lens, max): takes what workers queued, then fills the
// arrays with the first frames to send (they stay queued until txDone).
Napi::Value ShmOwner::TxBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!burst_.Read(info, BurstArrays::Inputs::kNone)) return env.Undefined();
  if (!CheckOpen(env)) return env.Undefined();
  owner_->drain();
  WakeWorkers();
  return Napi::Number::New(env, owner_->tx_peek(burst_.out_slots(), burst_.out_lens(), burst_.count()));
}

// txDone(n): the first n frames of the last batch were sent.
Napi::Value ShmOwner::TxDone(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  uint32_t n = NumberArg(info, 0);
  if (n > owner_->tx_backlog()) {
    ThrowRange(env, "txDone: n must be an integer in [0, the frames queued]");
    return env.Undefined();
  }
  owner_->tx_done(n);
  WakeWorkers();
  return env.Undefined();
}

// txSent(n): the first n frames of the last batch are with a device that
// completes them later (AF_XDP): off the queue, given back one by one.
Napi::Value ShmOwner::TxSent(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  uint32_t n = NumberArg(info, 0);
  if (n > owner_->tx_backlog()) {
    ThrowRange(env, "txSent: n must be an integer in [0, the frames queued]");
    return env.Undefined();
  }
  owner_->tx_sent(n);
  return env.Undefined();
}

// takeLocal(slots, lens, max, from): ARP for the owner's agent; from[i] is
// the worker place that sent it, or 255 for the wire.
Napi::Value ShmOwner::TakeLocal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!burst_.Read(info, BurstArrays::Inputs::kNone)) return env.Undefined();
  if (!CheckOpen(env)) return env.Undefined();
  napi_typedarray_type type;
  size_t len = 0;
  void* ptr = nullptr;
  if (info.Length() < 4 || napi_get_typedarray_info(env, info[3], &type, &len, &ptr, nullptr, nullptr) != napi_ok ||
      type != napi_uint8_array) {
    ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE", "takeLocal(slots, lens, max, from: Uint8Array)");
    return env.Undefined();
  }
  uint32_t max = burst_.count() < len ? burst_.count() : static_cast<uint32_t>(len);
  return Napi::Number::New(env, owner_->take_local(burst_.out_slots(), burst_.out_lens(), static_cast<uint8_t*>(ptr), max));
}

// deliver(place, slot, len): a slot the owner holds to a worker as a received frame.
Napi::Value ShmOwner::Deliver(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  uint32_t w = 0;
  if (!PlaceArg(info, 0, &w)) return env.Undefined();
  bool ok = owner_->deliver(w, NumberArg(info, 1), NumberArg(info, 2));
  WakeWorkers();
  return Napi::Boolean::New(env, ok);
}

Napi::Value ShmOwner::GiveBack(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  bool ok = owner_->give_back(NumberArg(info, 0));
  WakeWorkers();
  return Napi::Boolean::New(env, ok);
}

Napi::Value ShmOwner::QueueTx(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  return Napi::Boolean::New(env, owner_->queue_tx(NumberArg(info, 0), NumberArg(info, 1)));
}

// addWorker(place): resets the place's rings and hands it its home slots;
// returns the place's wake-up eventfd (for the worker process to inherit).
Napi::Value ShmOwner::AddWorker(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  uint32_t w = 0;
  if (!PlaceArg(info, 0, &w)) return env.Undefined();
  if (worker_fds_[w] < 0) {
    worker_fds_[w] = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (worker_fds_[w] < 0) {
      ThrowSystem(env, errno, "eventfd", "shared region");
      return env.Undefined();
    }
  }
  if (!owner_->add_worker(w)) {
    ThrowCoded(env, false, "ERR_USTACK_SHARD_PLACE_TAKEN", "ShmOwner.addWorker: place " + std::to_string(w) + " is taken");
    return env.Undefined();
  }
  WakeWorkers();
  return Napi::Number::New(env, worker_fds_[w]);
}

Napi::Value ShmOwner::SetLive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  uint32_t w = 0;
  if (!PlaceArg(info, 0, &w)) return env.Undefined();
  return Napi::Boolean::New(env, owner_->set_live(w));
}

Napi::Value ShmOwner::RemoveWorker(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  uint32_t w = 0;
  if (!PlaceArg(info, 0, &w)) return env.Undefined();
  std::vector<shm::FlowKey> flows;
  if (!owner_->remove_worker(w, &flows)) return env.Null();
  // The flows it held: [remoteAddr, remotePort, localAddr, localPort, protocol] each.
  Napi::Array a = Napi::Array::New(env, flows.size() * 5);
  uint32_t i = 0;
  for (const shm::FlowKey& k : flows) {
    a.Set(i++, Napi::Number::New(env, k.raddr));
    a.Set(i++, Napi::Number::New(env, k.rport));
    a.Set(i++, Napi::Number::New(env, k.laddr));
    a.Set(i++, Napi::Number::New(env, k.lport));
    a.Set(i++, Napi::Number::New(env, k.proto));
  }
  return a;
}

// reta(): a copy of the indirection table (place per bucket, 255 = none).
Napi::Value ShmOwner::Reta(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  Napi::Uint8Array a = Napi::Uint8Array::New(env, shm::kRetaSize);
  for (uint32_t b = 0; b < shm::kRetaSize; b++) a[b] = owner_->reta(b);
  return a;
}

// armWake(): arms the poll on the owner's eventfd and marks it asleep;
// true when something already waits (do not sleep).
Napi::Value ShmOwner::ArmWake(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (region_ == nullptr) return Napi::Boolean::New(env, false);
  int rc = Arm();
  if (rc < 0) {
    ThrowSystem(env, -rc, "uv_poll_start", "shared region");
    return env.Undefined();
  }
  return Napi::Boolean::New(env, !owner_->prepare_sleep());
}

Napi::Value ShmOwner::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  const shm::OwnerCounters& c = owner_->counters();
  Napi::Object o = Napi::Object::New(env);
  auto set = [&](Napi::Object& t, const char* k, uint64_t v) { t.Set(k, Napi::Number::New(env, static_cast<double>(v))); };
  set(o, "rxFrames", c.rx_frames);
  set(o, "steered", c.steered);
  set(o, "steeredByFlow", c.steered_by_flow);
  set(o, "arp", c.arp);
  set(o, "dropNoWorker", c.drop_no_worker);
  set(o, "dropNotIpv4", c.drop_not_ipv4);
  set(o, "dropMalformed", c.drop_malformed);
  set(o, "txFrames", c.tx_frames);
  set(o, "retaChanges", c.reta_changes);
  set(o, "flowsForgotten", c.flows_forgotten);
  set(o, "slotsReclaimed", c.slots_reclaimed);
  set(o, "badGiveBack", c.bad_give_back);
  set(o, "flows", owner_->flows());
  set(o, "txBacklog", owner_->tx_backlog());
  Napi::Array workers = Napi::Array::New(env, worker_fds_.size());
  for (uint32_t w = 0; w < worker_fds_.size(); w++) {
    const shm::WorkerCounters& wc = owner_->worker_counters(w);
    Napi::Object t = Napi::Object::New(env);
    shm::Owner::Place p = owner_->place(w);
    t.Set("state", Napi::String::New(env, p == shm::Owner::Place::kLive ? "live" : p == shm::Owner::Place::kJoined ? "joined" : "vacant"));
    set(t, "rxFrames", wc.rx_frames);
    set(t, "rxBytes", wc.rx_bytes);
    set(t, "rxQuotaDrops", wc.rx_quota_drops);
    set(t, "rxRingFull", wc.rx_ring_full);
    set(t, "txFrames", wc.tx_frames);
    set(t, "txBytes", wc.tx_bytes);
    set(t, "arpFrames", wc.arp_frames);
    set(t, "releases", wc.releases);
    set(t, "returns", wc.returns);
    set(t, "flowAdds", wc.flow_adds);
    set(t, "flowDels", wc.flow_dels);
    set(t, "flowTableFull", wc.flow_table_full);
    set(t, "flows", owner_->flows_of(w));
    set(t, "faults", wc.faults);
    set(t, "wakeups", wc.wakeups);
    set(t, "joins", wc.joins);
    set(t, "deaths", wc.deaths);
    set(t, "ownerSlotsHeld", owner_->owner_held_by(w));
    workers.Set(w, t);
  }
  o.Set("workers", workers);
  return o;
}

// census(): who holds the slots right now.
Napi::Value ShmOwner::Census(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  shm::Census c = owner_->census();
  Napi::Object o = Napi::Object::New(env);
  o.Set("ownerFree", Napi::Number::New(env, c.owner_free));
  o.Set("ownerHeld", Napi::Number::New(env, c.owner_held));
  Napi::Array at = Napi::Array::New(env, worker_fds_.size());
  for (uint32_t w = 0; w < worker_fds_.size(); w++) at.Set(w, Napi::Number::New(env, c.at_worker[w]));
  o.Set("atWorker", at);
  return o;
}

// trace(): the last steering decisions, oldest first: { slot, len, hash, place }.
Napi::Value ShmOwner::Trace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  shm::TraceEntry t[shm::Owner::kTraceSize];
  uint32_t n = owner_->trace(t, shm::Owner::kTraceSize);
  Napi::Array a = Napi::Array::New(env, n);
  for (uint32_t i = 0; i < n; i++) {
    Napi::Object e = Napi::Object::New(env);
    e.Set("slot", Napi::Number::New(env, t[i].slot));
    e.Set("len", Napi::Number::New(env, t[i].len));
    e.Set("hash", Napi::Number::New(env, t[i].hash));
    e.Set("place", Napi::Number::New(env, t[i].worker));
    a.Set(i, e);
  }
  return a;
}

// close(): the poll, the eventfds and the region. Workers keep their own
// mappings; the memfd goes when the last one closes. Idempotent.
Napi::Value ShmOwner::Close(const Napi::CallbackInfo& info) {
  CloseAll();
  ResetWakeCallback();
  if (!pool_ref_.IsEmpty()) {
    Napi::ArrayBuffer ab = pool_ref_.Value();
    pool_ref_.Reset();
    if (!ab.IsDetached()) ab.Detach();
  }
  return info.Env().Undefined();
}

void ShmOwner::CloseAll() {
  ClosePoll();
  owner_.reset();
  if (region_ != nullptr) {
    region_->unmap();
    region_.reset();
  }
  if (wake_fd_ >= 0) ::close(wake_fd_);
  wake_fd_ = -1;
  for (int& fd : worker_fds_) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
}

}  // namespace ustack::napi
