// What every Node-API binding of the addon shares: per-environment data, errors (JavaScript
// ShmemError instances; the class is handed in by src/shmem/native.ts), and argument reading that
// refuses what it does not expect. Built with C++ exceptions disabled (NAPI_DISABLE_CPP_EXCEPTIONS,
// -fno-exceptions) so nothing can unwind into the runtime: a helper that fails has thrown into
// JavaScript and returns false, and its caller returns at once.
//
// The TypeScript layer (src/shmem/args.ts) validates every argument first, with ShmemError
// BAD_ARGS naming the argument; the checks here are defence in depth against a caller that goes
// around it: a wrong type is a TypeError, never quietly turned into 0.
#pragma once

#include <string>

#include <napi.h>

#include "shmem_file.h"
#include "shmem_stream.h"

namespace ensight::shmem::binding {

struct AddonData {
  Napi::FunctionReference error_class;
  // -1 not probed yet, 0 the runtime refuses external or detachable ArrayBuffers (copy instead), 1 usable.
  int zero_copy_views = -1;
  // -1 not tried yet, 0 the runtime refuses external ArrayBuffers (frame copies go to plain memory), 1 usable.
  int external_buffers = -1;
};

AddonData& data_of(Napi::Env env);

// A ShmemError(message, code, status) of the configured class (a plain Error with code and status
// before configure()).
Napi::Error make_error(Napi::Env env, Status status, const std::string& message);
// Throws for error statuses (negative), returns the status number otherwise.
Napi::Value status_result(Napi::Env env, Status status, const char* what);
// Throws UNCONNECTED: the object was closed.
void throw_closed(Napi::Env env);
// "open <path>: <strerror>" and the like, for a failed open or create.
std::string describe(const FileError& error, const std::string& path);

// --- arguments: each returns false after throwing a TypeError (wrong type) or RangeError ----

// info[i] is a number holding an integer in [0, 2^32).
bool u32_arg(const Napi::CallbackInfo& info, size_t i, const char* name, uint32_t* out);
// info[i] is a duration in milliseconds, or undefined for `fallback_ms`; in nanoseconds, -1 for
// a negative or infinite one (no deadline). NaN is refused.
bool ms_arg_to_ns(const Napi::CallbackInfo& info, size_t i, const char* name, double fallback_ms, int64_t* out_ns);
// info[i] is a boolean, or undefined for `fallback`.
bool bool_arg(const Napi::CallbackInfo& info, size_t i, const char* name, bool fallback, bool* out);
// info[i] is a Uint8Array.
bool bytes_arg(const Napi::CallbackInfo& info, size_t i, const char* name, Napi::Uint8Array* out);
// options[key] is of `type`, or undefined (then *present is false). A present value of another
// type is a TypeError.
bool option_of_type(const Napi::Object& options, const char* key, napi_valuetype type, Napi::Value* out, bool* present);
// options.pollIntervalMs, if given and positive, becomes the side's poll interval.
template <typename Side>
bool apply_poll_interval(const Napi::Object& options, Side& side) {
  Napi::Value value;
  bool present = false;
  if (!option_of_type(options, "pollIntervalMs", napi_number, &value, &present)) return false;
  const double ms = present ? value.As<Napi::Number>().DoubleValue() : 0;
  if (ms > 0 && ms < 1e9) side.set_poll_interval_ns(static_cast<int64_t>(ms * 1e6));
  return true;
}

// A CLOCK_MONOTONIC deadline `timeout_ns` from now; -1 (none) for a negative timeout.
int64_t deadline_after(int64_t timeout_ns);

// Whether this runtime lets us hand out external ArrayBuffers and detach them again (probed once
// per environment).
bool zero_copy_supported(napi_env env);

// What both classes share: the core side they own (nullptr once closed) and the methods that
// only read its mapping. `Wrap` is the class itself (Node-API's ObjectWrap is a CRTP base).
template <typename Wrap, typename Side>
class SideWrap : public Napi::ObjectWrap<Wrap> {
 protected:
  explicit SideWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Wrap>(info) {}

  // False (UNCONNECTED thrown) once closed.
  bool open(Napi::Env env) {
    if (side_) return true;
    throw_closed(env);
    return false;
  }
  Napi::Value path(const Napi::CallbackInfo& info) {
    if (!open(info.Env())) return info.Env().Undefined();
    return Napi::String::New(info.Env(), side_->mapping()->path());
  }
  // Payload bytes per buffer under the layout this side reads or writes.
  Napi::Value payload_size(const Napi::CallbackInfo& info) {
    if (!open(info.Env())) return info.Env().Undefined();
    return Napi::Number::New(info.Env(), static_cast<double>(side_->layout().payload_size));
  }

  Side* side_ = nullptr;
};

// The classes the bindings define (consumer_binding.cc, producer_binding.cc).
Napi::Function define_consumer_class(Napi::Env env);
Napi::Function define_producer_class(Napi::Env env);

}  // namespace ensight::shmem::binding
