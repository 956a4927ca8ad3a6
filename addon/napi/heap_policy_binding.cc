// keepFreedHeap: see heap_policy_binding.h.
#include "napi/heap_policy_binding.h"

#include "heap/heap_policy.h"

namespace ustack::napi {

Napi::Value KeepFreedHeap(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), ustack::heap::KeepFreedHeap());
}

}  // namespace ustack::napi
