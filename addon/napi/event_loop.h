// The poll loop's view of Node's event loop (src/runtime/poll-loop.ts through
// src/driver/addon.ts eventLoopProbe): whether libuv has work due, read
// without a system call, and an idle handle that keeps libuv's poll phase
// from blocking while the poll loop spins. One per environment, so workers
// each have their own.
#pragma once
#include <napi.h>

namespace ustack::napi {

// eventLoopDue(): whether a timer, a referenced setImmediate, or pending or
// closing callbacks are due now.
Napi::Value EventLoopDue(const Napi::CallbackInfo& info);
// eventLoopSpin(on): starts/stops the idle handle.
Napi::Value EventLoopSpin(const Napi::CallbackInfo& info);

}  // namespace ustack::napi
