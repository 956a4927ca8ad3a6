// eventLoopDue / eventLoopSpin: see event_loop.h.
#include "napi/event_loop.h"

#include <uv.h>

namespace ustack::napi {

namespace {

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

// The environment's probe, made on first use. It is the addon's instance
// data (napi_set_instance_data), which nothing else uses.
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

}  // namespace

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

}  // namespace ustack::napi
