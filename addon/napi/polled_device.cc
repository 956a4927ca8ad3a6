#include "napi/polled_device.h"

namespace ustack::napi {

void InvokeWakeCallback(Napi::Env env, Napi::Object recv, const Napi::FunctionReference& cb) {
  napi_value recv_v = recv.IsEmpty() ? env.Undefined() : static_cast<napi_value>(recv);
  napi_value result;
  napi_status st = napi_make_callback(env, nullptr, recv_v, cb.Value(), 0, nullptr, &result);
  if (st == napi_pending_exception || env.IsExceptionPending()) {
    napi_value e = nullptr;
    if (napi_get_and_clear_last_exception(env, &e) == napi_ok && e != nullptr) napi_fatal_exception(env, e);
  }
}

}  // namespace ustack::napi
