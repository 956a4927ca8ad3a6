// N-API surface only: thin wrappers over addon/tap, addon/pci, addon/dma, addon/e1000.
#include <napi.h>

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("version", Napi::String::New(env, "0.1.0"));
  return exports;
}

NODE_API_MODULE(ustack, Init)
