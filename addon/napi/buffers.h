// JavaScript memory the device wrappers read and write: typed-array
// arguments, the (slots, lens, n) arrays of a burst, and buffers held across
// calls. Native code never keeps a pointer into memory JavaScript can free
// or move, and reads each value it checks exactly once.
#pragma once
#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ustack::napi {

// Data pointer and element count of a Uint32Array (one N-API call: hot path).
// false with a TypeError (ERR_INVALID_ARG_TYPE) pending for anything else.
bool GetU32Array(napi_env env, napi_value v, uint32_t** data, size_t* len, const char* what);

// The (slots, lens, n) arguments of a burst. The arrays may be views of a
// SharedArrayBuffer that another thread writes while the burst runs, so what
// the device reads from them (slot indices, lengths of frames to send) is
// copied into native memory once, then checked and used from the copy: a
// value checked in the array and read from it again could have changed in
// between. Results go straight into JavaScript's arrays (out_slots/out_lens).
// One per device: the copies reuse their memory from burst to burst.
class BurstArrays {
 public:
  enum class Inputs { kNone, kSlots, kSlotsAndLens };
  // A burst moves at most this many frames, whatever n says: the copies stay
  // small, and every burst call may already move fewer frames than asked.
  static constexpr uint32_t kMaxBurst = 65536;

  // Parses info[0..2] as (slots: Uint32Array, lens: Uint32Array, n: number);
  // the count is n clamped to [0, both arrays' lengths, kMaxBurst]. Copies `inputs`.
  // false with a TypeError (ERR_INVALID_ARG_TYPE) pending otherwise.
  bool Read(const Napi::CallbackInfo& info, Inputs inputs);

  // Every copied slot index is below slot_count; otherwise false with an
  // ERR_OUT_OF_RANGE RangeError naming the first that is not.
  bool CheckSlots(Napi::Env env, uint32_t slot_count) const;
  // Every copied length is in [min, max]; `max_name` says what bounds it
  // ("slotSize") in the error.
  bool CheckLens(Napi::Env env, uint32_t min, uint32_t max, const char* max_name) const;

  uint32_t count() const { return n_; }
  const uint32_t* slots() const { return slots_.data(); }
  const uint32_t* lens() const { return lens_.data(); }
  uint32_t* out_slots() const { return js_slots_; }
  uint32_t* out_lens() const { return js_lens_; }

 private:
  uint32_t n_ = 0;
  uint32_t* js_slots_ = nullptr;
  uint32_t* js_lens_ = nullptr;
  std::vector<uint32_t> slots_, lens_;
};

// A JavaScript ArrayBuffer, or typed array, whose memory a device uses on
// every call, held between calls by a reference only. Between two calls
// JavaScript can detach it (ArrayBuffer.prototype.transfer(), structuredClone
// or postMessage with a transfer list) or shrink it (a resizable
// ArrayBuffer), after which V8 frees or reuses the memory. So Get(), at the
// start of each call, reads the memory's place and size again and refuses a
// buffer that is detached, shorter than `need` bytes, or no longer where it
// was when held (a device may have kept that address for the call).
class HeldBuffer {
 public:
  // Holds `value` (an ArrayBuffer or typed array), which must span at least
  // `need` bytes now: false with an ERR_OUT_OF_RANGE RangeError otherwise.
  bool Hold(Napi::Env env, napi_value value, size_t need, const char* what);
  // Its bytes as of now, or nullptr with an ERR_USTACK_BUFFER_DETACHED error
  // pending (see above). `what` names the buffer in the message.
  uint8_t* Get(Napi::Env env, const char* what) const;
  // The buffer is still there, as held (no error either way).
  bool Usable(Napi::Env env) const;
  bool IsEmpty() const { return ref_.IsEmpty(); }
  void Reset();

 private:
  // Data and byte length of the held value right now (nullptr, 0 when detached).
  uint8_t* Current(Napi::Env env, size_t* bytes) const;

  Napi::Reference<Napi::Object> ref_;
  bool typed_ = false;
  uint8_t* data_ = nullptr;
  size_t need_ = 0;
};

// The argument of a device's setMulticast(macs: Uint8Array): whole 6-byte
// group addresses (each with the group bit set), at most kMaxMulticastGroups,
// copied once into `out` (checked and used from the copy, so JavaScript
// cannot change an address in between). false with an error pending
// otherwise: ERR_INVALID_ARG_TYPE (TypeError) for anything but a Uint8Array,
// ERR_INVALID_ARG_VALUE for a length that is not whole addresses or too many
// of them, or an address without the group bit.
constexpr size_t kMaxMulticastGroups = 1024;
bool ReadMulticastGroups(const Napi::CallbackInfo& info, std::vector<uint8_t>* out);

// Memory a device owns (DMA pool, UMEM, shared region) exposed to JavaScript
// as one external ArrayBuffer, made on the first call and kept in `ref`, so
// every later call returns the same buffer. Each such buffer holds a
// dma::ViewHold on the memory until V8 collects it: the device's close
// zeroes rather than unmaps memory a view can still reach. `what` names the
// memory in the error ("E1000Device: ... the DMA pool"). undefined with an
// error pending when the engine refuses external buffers.
Napi::Value ExposePool(Napi::Env env, Napi::Reference<Napi::ArrayBuffer>& ref, uint8_t* data, size_t bytes, const char* what);

}  // namespace ustack::napi
