// keepFreedHeap(): the C library heap's policy for a busy poller
// (heap/heap_policy.h), applied when a stack polls in 'busy' mode.
#pragma once
#include <napi.h>

namespace ustack::napi {

// keepFreedHeap() -> boolean: whether the policy took effect (glibc's malloc).
Napi::Value KeepFreedHeap(const Napi::CallbackInfo& info);

}  // namespace ustack::napi
