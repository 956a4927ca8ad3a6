// The part every polled device binding shares (TapDevice, E1000Device): the
// wake-up on a file descriptor, ref/unref, and the burst arguments.
//
// Wake-up semantics: arming starts a uv_poll_t on the device's fd for
// UV_READABLE; when the fd becomes readable the poll is stopped (one-shot),
// the device's OnWakeUp() runs, then the wake callback. A stopped (unarmed)
// poll never keeps the event loop alive; an armed one does only while the
// device is ref'd. Devices start ref'd (like a listening socket); unref()
// lets node exit while armed.
//
// A wake-up with an error status (epoll reported POLLERR/POLLHUP on the fd)
// is counted (wakeErrors) and handed to the device's OnWakeError() before the
// callback runs; a device whose fd can never work again closes its poll there
// (ClosePoll), so that one callback is the last and nothing re-arms into a
// storm of error wake-ups.
//
// CRTP: Derived : PolledDevice<Derived> supplies the fd (InitPoll), its own
// armWake (what it returns and does when closed differ by device), the
// bursts, and the hooks:
//   bool IsOpen() const;            // a closed device holds no wake callback
//   void OnWakeUp();                // optional: runs before the callback (e1000: acknowledge the interrupt)
//   void OnWakeError(int status);   // optional: a wake-up came with a libuv error (TAP: the device is gone)
#pragma once
#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <vector>

#include "napi/buffers.h"
#include "napi/errors.h"

namespace ustack::napi {

// Calls a device's wake callback from a libuv poll callback (no JS frame on
// the stack). Raw napi_make_callback: while node tears the environment down
// it still runs pending uv callbacks (a frame arriving makes the fd readable)
// but can no longer call into JS; node-addon-api would turn that status into
// a throw, which is fatal there, so such a wake-up is simply dropped. An
// exception from the callback itself is reported like any uncaught exception.
// The caller opens the HandleScope.
void InvokeWakeCallback(Napi::Env env, Napi::Object recv, const Napi::FunctionReference& cb);

template <typename Derived>
class PolledDevice : public Napi::ObjectWrap<Derived> {
 public:
  using Properties = std::vector<Napi::ClassPropertyDescriptor<Derived>>;

  // Adds the methods every polled device has: setWakeCallback, ref, unref,
  // hasRef. (A method template argument must name a member of Derived
  // itself, so these take the runtime form.)
  static void AddWakeMethods(Properties* props) {
    using Wrap = Napi::ObjectWrap<Derived>;
    using Method = Napi::Value (Derived::*)(const Napi::CallbackInfo&);
    props->push_back(Wrap::InstanceMethod("setWakeCallback", static_cast<Method>(&PolledDevice::SetWakeCallback)));
    props->push_back(Wrap::InstanceMethod("ref", static_cast<Method>(&PolledDevice::Ref)));
    props->push_back(Wrap::InstanceMethod("unref", static_cast<Method>(&PolledDevice::Unref)));
    props->push_back(Wrap::InstanceMethod("hasRef", static_cast<Method>(&PolledDevice::HasRef)));
  }

  // No hook of the derived class runs here: by now it is destroyed. It
  // closes the poll itself (ClosePoll is idempotent).
  ~PolledDevice() override { ClosePoll(); }

 protected:
  explicit PolledDevice(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Derived>(info) {}

  // InitPoll's result when the environment has no libuv loop.
  static constexpr int kNoLoop = 1;

  // Creates the (stopped) poll handle on `fd`: 0, kNoLoop, or a negative
  // libuv error. Without a handle the device cannot wake anyone.
  int InitPoll(Napi::Env env, int fd) {
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) return kNoLoop;
    poll_ = new uv_poll_t;
    int rc = uv_poll_init(loop, poll_, fd);
    if (rc < 0) {
      delete poll_;
      poll_ = nullptr;
      return rc;
    }
    poll_->data = this;
    return 0;
  }

  bool HasPoll() const { return poll_ != nullptr; }

  // Starts the one-shot poll: 0 (also while already armed) or a negative
  // libuv error (UV_EBADF once the poll is closed).
  int Arm() {
    if (armed_) return 0;
    if (poll_ == nullptr) return UV_EBADF;
    int rc = uv_poll_start(poll_, UV_READABLE, &PolledDevice::OnPoll);
    if (rc < 0) return rc;
    armed_ = true;
    return 0;
  }

  // Stops and closes the poll handle. Safe from the finalizer: touches only
  // libuv, never JavaScript.
  void ClosePoll() {
    if (poll_ != nullptr) {
      poll_->data = nullptr;  // OnPoll must not reach a dead device
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      poll_ = nullptr;
    }
    armed_ = false;
  }

  void ResetWakeCallback() { wake_cb_.Reset(); }
  uint64_t wake_errors() const { return wake_errors_; }

  // A transmit burst's checks after burst_.Read(info, Inputs::kSlotsAndLens):
  // every slot below slot_count and every length in [min_len, max_len];
  // otherwise false with an ERR_OUT_OF_RANGE RangeError pending.
  bool CheckTxBurst(Napi::Env env, uint32_t slot_count, uint32_t min_len, uint32_t max_len,
                    const char* max_name) const {
    return burst_.CheckSlots(env, slot_count) && burst_.CheckLens(env, min_len, max_len, max_name);
  }

  // The default hooks: nothing to do before the callback; a wake error is only counted.
  void OnWakeUp() {}
  void OnWakeError(int /*status*/) {}

  BurstArrays burst_;  // one per device: the copies reuse their memory from burst to burst

 private:
  // setWakeCallback(fn | null): called (this = the device) once per armed wake-up.
  Napi::Value SetWakeCallback(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !(info[0].IsFunction() || info[0].IsNull() || info[0].IsUndefined())) {
      ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE", "setWakeCallback(fn: Function | null)");
      return env.Undefined();
    }
    // A closed device never wakes: holding a callback would only keep it alive.
    if (info[0].IsFunction() && static_cast<Derived*>(this)->IsOpen()) {
      wake_cb_ = Napi::Persistent(info[0].As<Napi::Function>());
    } else {
      wake_cb_.Reset();
    }
    return env.Undefined();
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

  static void OnPoll(uv_poll_t* handle, int status, int /*events*/) {
    auto* self = static_cast<PolledDevice*>(handle->data);
    uv_poll_stop(handle);
    if (self == nullptr) return;
    self->armed_ = false;
    if (status < 0) {
      self->wake_errors_++;
      static_cast<Derived*>(self)->OnWakeError(status);  // may close the poll (handle stays valid until its close callback)
    }
    static_cast<Derived*>(self)->OnWakeUp();
    if (self->wake_cb_.IsEmpty()) return;
    Napi::HandleScope scope(self->Env());  // before Value(): it creates a handle
    InvokeWakeCallback(self->Env(), self->Value(), self->wake_cb_);
  }

  uv_poll_t* poll_ = nullptr;
  bool armed_ = false;
  bool refed_ = true;
  uint64_t wake_errors_ = 0;
  Napi::FunctionReference wake_cb_;
};

}  // namespace ustack::napi
