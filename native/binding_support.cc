#include "binding_support.h"

#include <cmath>
#include <cstring>

#include "shmem_handoff.h"

namespace ensight::shmem::binding {

AddonData& data_of(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

Napi::Error make_error(Napi::Env env, Status status, const std::string& message) {
  AddonData& data = data_of(env);
  const std::string code = status_name(status);
  if (!data.error_class.IsEmpty()) {
    Napi::Value error = data.error_class.New(
        {Napi::String::New(env, message), Napi::String::New(env, code), Napi::Number::New(env, static_cast<int>(status))});
    if (!env.IsExceptionPending() && error.IsObject()) return Napi::Error(env, error);
  }
  Napi::Error error = Napi::Error::New(env, code + ": " + message);
  error.Set("code", Napi::String::New(env, code));
  error.Set("status", Napi::Number::New(env, static_cast<int>(status)));
  return error;
}

Napi::Value status_result(Napi::Env env, Status status, const char* what) {
  if (static_cast<int>(status) < 0) {
    make_error(env, status, what).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<int>(status));
}

void throw_closed(Napi::Env env) {
  make_error(env, Status::kUnconnected, "the stream is closed").ThrowAsJavaScriptException();
}

std::string describe(const FileError& e, const std::string& path) {
  std::string text = std::string(e.operation) + (path.empty() ? "" : " " + path);
  if (e.sys_errno) text += ": " + std::string(strerror(e.sys_errno));
  if (e.status == Status::kBadFileSize) text += " (file size " + std::to_string(e.observed_size) + " bytes)";
  return text;
}

namespace {

const char* type_name(const Napi::Value& value) {
  switch (value.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return "a boolean";
    case napi_number: return "a number";
    case napi_string: return "a string";
    case napi_symbol: return "a symbol";
    case napi_function: return "a function";
    case napi_bigint: return "a bigint";
    default: return value.IsTypedArray() ? "a typed array" : "an object";
  }
}

bool type_error(Napi::Env env, const char* name, const char* expected, const Napi::Value& got) {
  Napi::TypeError::New(env, std::string(name) + " must be " + expected + ", got " + type_name(got))
      .ThrowAsJavaScriptException();
  return false;
}

}  // namespace

bool u32_arg(const Napi::CallbackInfo& info, size_t i, const char* name, uint32_t* out) {
  const Napi::Value value = info[i];
  if (!value.IsNumber()) return type_error(info.Env(), name, "a number", value);
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!(number >= 0 && number <= 4294967295.0 && std::floor(number) == number)) {
    Napi::RangeError::New(info.Env(), std::string(name) + " must be an integer from 0 to 2^32-1, got " +
                                          std::to_string(number))
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<uint32_t>(number);
  return true;
}

bool ms_arg_to_ns(const Napi::CallbackInfo& info, size_t i, const char* name, double fallback_ms, int64_t* out_ns) {
  const Napi::Value value = info[i];
  double ms = fallback_ms;
  if (!value.IsUndefined()) {
    if (!value.IsNumber()) return type_error(info.Env(), name, "a number of milliseconds", value);
    ms = value.As<Napi::Number>().DoubleValue();
    if (std::isnan(ms)) {
      Napi::RangeError::New(info.Env(), std::string(name) + " must be a number of milliseconds, got NaN")
          .ThrowAsJavaScriptException();
      return false;
    }
  }
  // Beyond ~292 years the nanoseconds would not fit in 64 bits: as good as no deadline.
  *out_ns = ms < 0 || ms >= 9e12 ? -1 : static_cast<int64_t>(ms * 1e6);
  return true;
}

bool bool_arg(const Napi::CallbackInfo& info, size_t i, const char* name, bool fallback, bool* out) {
  const Napi::Value value = info[i];
  if (value.IsUndefined()) {
    *out = fallback;
    return true;
  }
  if (!value.IsBoolean()) return type_error(info.Env(), name, "a boolean", value);
  *out = value.As<Napi::Boolean>().Value();
  return true;
}

bool bytes_arg(const Napi::CallbackInfo& info, size_t i, const char* name, Napi::Uint8Array* out) {
  const Napi::Value value = info[i];
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    return type_error(info.Env(), name, "a Uint8Array", value);
  }
  *out = value.As<Napi::Uint8Array>();
  return true;
}

bool option_of_type(const Napi::Object& options, const char* key, napi_valuetype type, Napi::Value* out, bool* present) {
  const Napi::Value value = options.Get(key);
  if (options.Env().IsExceptionPending()) return false;  // a throwing getter
  *present = !value.IsUndefined();
  if (!*present) return true;
  if (value.Type() != type || (type == napi_object && value.IsNull())) {
    const char* expected = type == napi_number ? "a number" : type == napi_string ? "a string"
                         : type == napi_boolean ? "a boolean" : "an object";
    return type_error(options.Env(), (std::string("options.") + key).c_str(), expected, value);
  }
  *out = value;
  return true;
}

int64_t deadline_after(int64_t timeout_ns) { return timeout_ns < 0 ? -1 : monotonic_now_ns() + timeout_ns; }

// A static byte is the probe: a runtime that refuses either operation gets copies, never a view we
// could not revoke.
bool zero_copy_supported(napi_env env) {
  AddonData& data = data_of(env);
  if (data.zero_copy_views >= 0) return data.zero_copy_views == 1;
  static uint8_t probe_byte;
  napi_value probe;
  bool detached = false;
  data.zero_copy_views =
      napi_create_external_arraybuffer(env, &probe_byte, 1, nullptr, nullptr, &probe) == napi_ok &&
      napi_detach_arraybuffer(env, probe) == napi_ok && napi_is_detached_arraybuffer(env, probe, &detached) == napi_ok &&
      detached;
  return data.zero_copy_views == 1;
}

}  // namespace ensight::shmem::binding
