#include "napi/buffers.h"

#include <cstring>
#include <string>

#include "dma/view_hold.h"
#include "napi/errors.h"

namespace ustack::napi {

namespace {

size_t ElementSize(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array:
    case napi_uint8_array:
    case napi_uint8_clamped_array:
      return 1;
    case napi_int16_array:
    case napi_uint16_array:
      return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array:
      return 4;
    default:
      return 8;
  }
}

}  // namespace

bool GetU32Array(napi_env env, napi_value v, uint32_t** data, size_t* len, const char* what) {
  napi_typedarray_type type;
  void* ptr = nullptr;
  napi_status st = napi_get_typedarray_info(env, v, &type, len, &ptr, nullptr, nullptr);
  if (st != napi_ok || type != napi_uint32_array) {
    if (st != napi_ok) {
      // napi_get_typedarray_info leaves no exception pending for a non-typed-array.
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (pending) return false;
    }
    ThrowCoded(Napi::Env(env), true, "ERR_INVALID_ARG_TYPE",
               std::string("The \"") + what + "\" argument must be a Uint32Array");
    return false;
  }
  // A detached buffer's view reports no elements (and may report no data).
  if (ptr == nullptr) *len = 0;
  *data = static_cast<uint32_t*>(ptr);
  return true;
}

// ---- BurstArrays ----

bool BurstArrays::Read(const Napi::CallbackInfo& info, Inputs inputs) {
  Napi::Env env = info.Env();
  n_ = 0;
  if (info.Length() < 3 || !info[2].IsNumber()) {
    ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE", "expected (slots: Uint32Array, lens: Uint32Array, n: number)");
    return false;
  }
  size_t slots_len = 0, lens_len = 0;
  if (!GetU32Array(env, info[0], &js_slots_, &slots_len, "slots")) return false;
  if (!GetU32Array(env, info[1], &js_lens_, &lens_len, "lens")) return false;
  double want = info[2].As<Napi::Number>().DoubleValue();
  if (!(want >= 0)) want = 0;  // NaN and negatives: nothing
  size_t cap = slots_len < lens_len ? slots_len : lens_len;
  if (cap > kMaxBurst) cap = kMaxBurst;
  n_ = want < static_cast<double>(cap) ? static_cast<uint32_t>(want) : static_cast<uint32_t>(cap);
  if (inputs != Inputs::kNone) {
    if (slots_.size() < n_) slots_.resize(n_);
    if (n_ > 0) std::memcpy(slots_.data(), js_slots_, static_cast<size_t>(n_) * sizeof(uint32_t));
  }
  if (inputs == Inputs::kSlotsAndLens) {
    if (lens_.size() < n_) lens_.resize(n_);
    if (n_ > 0) std::memcpy(lens_.data(), js_lens_, static_cast<size_t>(n_) * sizeof(uint32_t));
  }
  return true;
}

bool BurstArrays::CheckSlots(Napi::Env env, uint32_t slot_count) const {
  for (uint32_t i = 0; i < n_; i++) {
    if (slots_[i] >= slot_count) {
      ThrowRange(env, "slot index " + std::to_string(slots_[i]) + " out of range (slotCount " +
                          std::to_string(slot_count) + ")");
      return false;
    }
  }
  return true;
}

bool BurstArrays::CheckLens(Napi::Env env, uint32_t min, uint32_t max, const char* max_name) const {
  for (uint32_t i = 0; i < n_; i++) {
    uint32_t len = lens_[i];
    if (len > max) {
      ThrowRange(env, "frame length " + std::to_string(len) + " exceeds " + max_name + " " + std::to_string(max));
      return false;
    }
    if (len < min) {
      ThrowRange(env, "frame length " + std::to_string(len) + " is below " + std::to_string(min));
      return false;
    }
  }
  return true;
}

// ---- HeldBuffer ----

uint8_t* HeldBuffer::Current(Napi::Env env, size_t* bytes) const {
  *bytes = 0;
  if (ref_.IsEmpty()) return nullptr;
  napi_value v = ref_.Value();
  if (v == nullptr) return nullptr;
  void* data = nullptr;
  if (typed_) {
    napi_typedarray_type type;
    size_t length = 0;
    if (napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr) != napi_ok) return nullptr;
    *bytes = length * ElementSize(type);
  } else {
    if (napi_get_arraybuffer_info(env, v, &data, bytes) != napi_ok) return nullptr;
  }
  if (data == nullptr) *bytes = 0;
  return static_cast<uint8_t*>(data);
}

bool HeldBuffer::Hold(Napi::Env env, napi_value value, size_t need, const char* what) {
  Reset();
  bool is_ab = false, is_typed = false;
  napi_is_arraybuffer(env, value, &is_ab);
  if (!is_ab) napi_is_typedarray(env, value, &is_typed);
  if (!is_ab && !is_typed) {
    ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE", std::string(what) + " must be an ArrayBuffer or a typed array");
    return false;
  }
  ref_ = Napi::Persistent(Napi::Value(env, value).As<Napi::Object>());
  typed_ = is_typed;
  need_ = need;
  size_t bytes = 0;
  data_ = Current(env, &bytes);
  if (data_ == nullptr || bytes < need) {
    Reset();
    ThrowRange(env, std::string(what) + " holds " + std::to_string(bytes) + " bytes, need " + std::to_string(need));
    return false;
  }
  return true;
}

bool HeldBuffer::Usable(Napi::Env env) const {
  size_t bytes = 0;
  uint8_t* now = Current(env, &bytes);
  return now != nullptr && now == data_ && bytes >= need_;
}

uint8_t* HeldBuffer::Get(Napi::Env env, const char* what) const {
  if (Usable(env)) return data_;
  ThrowCoded(env, false, "ERR_USTACK_BUFFER_DETACHED",
             std::string(what) +
                 " is no longer usable: its ArrayBuffer was detached (transferred) or shrunk after it was handed "
                 "to the device");
  return nullptr;
}

void HeldBuffer::Reset() {
  ref_.Reset();
  typed_ = false;
  data_ = nullptr;
  need_ = 0;
}

bool ReadMulticastGroups(const Napi::CallbackInfo& info, std::vector<uint8_t>* out) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowCoded(env, true, "ERR_INVALID_ARG_TYPE", "The \"macs\" argument must be a Uint8Array (6 bytes per address)");
    return false;
  }
  Napi::Uint8Array arr = info[0].As<Napi::Uint8Array>();
  size_t len = arr.ByteLength();
  if (len % 6 != 0 || len / 6 > kMaxMulticastGroups) {
    ThrowCoded(env, false, "ERR_INVALID_ARG_VALUE",
               "The \"macs\" argument must hold whole 6-byte addresses, at most " + std::to_string(kMaxMulticastGroups) +
                   "; received " + std::to_string(len) + " bytes");
    return false;
  }
  out->assign(arr.Data(), arr.Data() + len);
  for (size_t k = 0; k < len; k += 6) {
    if (((*out)[k] & 1) == 0) {
      ThrowCoded(env, false, "ERR_INVALID_ARG_VALUE",
                 "The \"macs\" argument must hold multicast addresses (group bit set); address " + std::to_string(k / 6) +
                     " is not");
      return false;
    }
  }
  return true;
}

Napi::Value ExposePool(Napi::Env env, Napi::Reference<Napi::ArrayBuffer>& ref, uint8_t* data, size_t bytes, const char* what) {
  if (!ref.IsEmpty()) return ref.Value();
  auto* hold = new ustack::dma::ViewHold(data, bytes);
  napi_value ab = nullptr;
  napi_status st = napi_create_external_arraybuffer(
      env, data, bytes, [](napi_env, void*, void* h) { delete static_cast<ustack::dma::ViewHold*>(h); }, hold, &ab);
  if (st != napi_ok) {
    delete hold;
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (!pending) ThrowCoded(env, false, "ERR_USTACK_NO_EXTERNAL_BUFFERS", (std::string(what) + " cannot be exposed to JavaScript").c_str());
    return env.Undefined();
  }
  Napi::ArrayBuffer pool(env, ab);
  ref = Napi::Persistent(pool);
  return pool;
}

}  // namespace ustack::napi
