// The module: what `require('ensight_shmem.node')` returns. The classes come from
// consumer_binding.cc and producer_binding.cc, thin Node-API layers over the plain C++ core
// (shmem_*.h); this file adds the free functions and the tables the TypeScript side checks its own
// copies against (test/shmem/tables.test.ts): status names to numbers, and the info slots.
#include <napi.h>

#include "binding_support.h"
#include "binding_views.h"
#include "shmem_file.h"
#include "shmem_handoff.h"

namespace ensight::shmem::binding {
namespace {

// configure(ShmemError): the class errors are made of.
Napi::Value configure(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) {
    Napi::TypeError::New(info.Env(), "configure needs the error class").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  data_of(info.Env()).error_class = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Value monotonic_now(const Napi::CallbackInfo& info) {
  return Napi::BigInt::New(info.Env(), static_cast<int64_t>(monotonic_now_ns()));
}

Napi::Value zero_copy_available(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), zero_copy_supported(info.Env()));
}

Napi::Value guarded_mappings(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(sigbus_guarded_mappings()));
}

// { UNCONNECTED: 4, …, LOCKED: -11 }: every Status, by the name status_name gives it.
Napi::Object status_table(Napi::Env env) {
  Napi::Object table = Napi::Object::New(env);
  for (int code = static_cast<int>(Status::kUnconnected); code >= static_cast<int>(Status::kLocked); --code) {
    table.Set(status_name(static_cast<Status>(code)), Napi::Number::New(env, code));
  }
  return table;
}

// { Buffer: 0, …, Epoch: 6, Slots: 7 }: the slots of the info Uint32Array.
Napi::Object info_table(Napi::Env env) {
  Napi::Object table = Napi::Object::New(env);
  table.Set("Buffer", Napi::Number::New(env, kInfoBuffer));
  table.Set("FrameNumber", Napi::Number::New(env, kInfoFrameNumber));
  table.Set("Width", Napi::Number::New(env, kInfoWidth));
  table.Set("Height", Napi::Number::New(env, kInfoHeight));
  table.Set("Offset", Napi::Number::New(env, kInfoOffset));
  table.Set("NumScanlines", Napi::Number::New(env, kInfoNumScanlines));
  table.Set("Epoch", Napi::Number::New(env, kInfoEpoch));
  table.Set("Slots", Napi::Number::New(env, kInfoSlots));
  return table;
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonData());
  exports.Set("configure", Napi::Function::New<configure>(env, "configure"));
  exports.Set("monotonicNowNs", Napi::Function::New<monotonic_now>(env, "monotonicNowNs"));
  exports.Set("zeroCopyAvailable", Napi::Function::New<zero_copy_available>(env, "zeroCopyAvailable"));
  exports.Set("guardedMappings", Napi::Function::New<guarded_mappings>(env, "guardedMappings"));
  exports.Set("NativeConsumer", define_consumer_class(env));
  exports.Set("NativeProducer", define_producer_class(env));
  exports.Set("defaultFileSize", Napi::Number::New(env, static_cast<double>(kDefaultFileSize)));
  exports.Set("pollIntervalMs", Napi::Number::New(env, kDefaultPollIntervalNs / 1e6));
  exports.Set("statusCodes", status_table(env));
  exports.Set("infoSlots", info_table(env));
  return exports;
}

}  // namespace
}  // namespace ensight::shmem::binding

static Napi::Object init_module(Napi::Env env, Napi::Object exports) {
  return ensight::shmem::binding::init(env, exports);
}
NODE_API_MODULE(ensight_shmem, init_module)
