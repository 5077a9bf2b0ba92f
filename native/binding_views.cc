#include "binding_views.h"

#include <cstring>

#include "binding_support.h"

namespace ensight::shmem::binding {

Napi::Value ViewSet::make(Napi::Env env, Mapping* mapping, const Block& block, bool zero_copy) {
  const size_t length = block.header.block_bytes();
  napi_value array_buffer = nullptr;
  if (zero_copy && zero_copy_supported(env)) {
    mapping->retain();
    const napi_status st =
        napi_create_external_arraybuffer(env, block.pixels, length, release_mapping, mapping, &array_buffer);
    napi_ref ref = nullptr;
    if (st == napi_ok && napi_create_reference(env, array_buffer, 0, &ref) == napi_ok) {
      refs_[block.buffer].push_back(ref);
    } else {
      if (st != napi_ok) mapping->release();
      if (st == napi_no_external_buffers_allowed) data_of(env).zero_copy_views = 0;
      if (env.IsExceptionPending()) return env.Undefined();
      array_buffer = nullptr;
    }
  }
  if (array_buffer == nullptr) {
    Napi::ArrayBuffer copy = Napi::ArrayBuffer::New(env, length);
    if (env.IsExceptionPending()) return env.Undefined();
    std::memcpy(copy.Data(), block.pixels, length);
    array_buffer = copy;
  }
  return Napi::Uint8Array::New(env, length, Napi::ArrayBuffer(env, array_buffer), 0);
}

Napi::Value ViewSet::window(Napi::Env env, Mapping* mapping, int buffer, uint8_t* base, size_t length) {
  Window& w = windows_[buffer];
  if (w.ref && w.base == base && w.length == length) {
    napi_value value = nullptr;
    if (napi_get_reference_value(env, w.ref, &value) == napi_ok && value != nullptr) return Napi::Value(env, value);
  }
  drop_window(env, buffer, true);
  if (!zero_copy_supported(env)) return env.Undefined();
  napi_value array_buffer = nullptr;
  mapping->retain();
  if (napi_create_external_arraybuffer(env, base, length, release_mapping, mapping, &array_buffer) != napi_ok) {
    mapping->release();
    return env.Undefined();
  }
  if (napi_create_reference(env, array_buffer, 1, &w.ref) != napi_ok) w.ref = nullptr;
  w.base = base;
  w.length = length;
  return Napi::Value(env, array_buffer);
}

void ViewSet::detach(napi_env env, int buffer) {
  for (napi_ref ref : refs_[buffer]) {
    napi_value value = nullptr;
    if (napi_get_reference_value(env, ref, &value) == napi_ok && value != nullptr) napi_detach_arraybuffer(env, value);
    napi_delete_reference(env, ref);
  }
  refs_[buffer].clear();  // keeps its capacity: no allocation on the next frame
}

void ViewSet::detach_all(napi_env env) {
  for (size_t i = 0; i < kBufferCount; ++i) {
    detach(env, static_cast<int>(i));
    drop_window(env, static_cast<int>(i), true);
  }
}

void ViewSet::forget(napi_env env) {
  for (auto& refs : refs_) {
    for (napi_ref ref : refs) napi_delete_reference(env, ref);
    refs.clear();
  }
  for (size_t i = 0; i < kBufferCount; ++i) drop_window(env, static_cast<int>(i), false);
}

void ViewSet::drop_window(napi_env env, int buffer, bool detach_it) {
  Window& w = windows_[buffer];
  if (!w.ref) return;
  napi_value value = nullptr;
  if (detach_it && napi_get_reference_value(env, w.ref, &value) == napi_ok && value != nullptr) {
    napi_detach_arraybuffer(env, value);
  }
  napi_delete_reference(env, w.ref);
  w = Window{};
}

void ViewSet::release_mapping(napi_env, void*, void* hint) { static_cast<Mapping*>(hint)->release(); }

namespace {
// Touches no JavaScript (allowed wherever a runtime runs finalizers): only the pool's own lock.
void give_back_lent(napi_env, void*, void* hint) { LentBlock::give_back(static_cast<LentBlock*>(hint)); }
}  // namespace

// Free blocks below which lent memory is reported (see lend()): blocks come back only after a
// collection the runtime starts in its own time, so the pool keeps this many frames in hand.
constexpr size_t kReportHeadroomBlocks = 6;

Napi::Value FrameLender::lend(Napi::Env env, size_t bytes) {
  AddonData& data = data_of(env);
  if (data.external_buffers == 0) return env.Undefined();
  // Blocks that came back are no longer the runtime's to count (Bun ignores a decrease; V8 uses it).
  outstanding_ -= static_cast<int64_t>(pool_->take_returned_bytes());
  size_t capacity = 0;
  uint8_t* block = pool_->acquire(bytes, &capacity);
  if (block != nullptr) outstanding_ += static_cast<int64_t>(capacity);
  // A decrease is told at once. An increase only while the pool runs low: the runtime's next
  // collection then finalizes the copies dropped since, and their blocks come back. Told every
  // lend, Bun (JSC) counts each report towards its next collection, and this call took ~370 µs a
  // 640x480 lend (38 % of the client's CPU), most likely in collections started from inside it;
  // told only once the pool was dry, blocks came back too late for 1080p and 4K.
  const int64_t change = outstanding_ - reported_;
  if (change < 0 || (change > 0 && (block == nullptr || pool_->running_low(kReportHeadroomBlocks)))) {
    int64_t total = 0;
    napi_adjust_external_memory(env, change, &total);
    reported_ = outstanding_;
  }
  if (block == nullptr) return env.Undefined();
  auto* record = new LentBlock{pool_, block, capacity};
  napi_value array_buffer = nullptr;
  const napi_status st = napi_create_external_arraybuffer(env, block, bytes, give_back_lent, record, &array_buffer);
  if (st != napi_ok) {
    LentBlock::give_back(record);  // not created, so no finalizer will run; reported back next time
    if (st == napi_no_external_buffers_allowed) data.external_buffers = 0;
    return env.Undefined();
  }
  data.external_buffers = 1;
  return Napi::Uint8Array::New(env, bytes, Napi::ArrayBuffer(env, array_buffer), 0);
}

void FrameLender::close(Napi::Env env, bool env_alive) {
  pool_->close();
  if (env_alive && reported_ != 0) {
    int64_t total = 0;
    napi_adjust_external_memory(env, -reported_, &total);
  }
  reported_ = 0;
}

bool InfoArray::bind(Napi::Env env, Napi::Value value) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array ||
      value.As<Napi::Uint32Array>().ElementLength() < kInfoSlots) {
    make_error(env, Status::kBadArgs, "options.info must be a Uint32Array of at least 7 elements")
        .ThrowAsJavaScriptException();
    return false;
  }
  ref_ = Napi::Persistent(value.As<Napi::Object>());
  slots_ = value.As<Napi::Uint32Array>().Data();
  return true;
}

void InfoArray::write(const Block& block, uint32_t epoch) {
  slots_[kInfoEpoch] = epoch;
  slots_[kInfoBuffer] = static_cast<uint32_t>(block.buffer);
  slots_[kInfoFrameNumber] = block.header.frame_number;
  slots_[kInfoWidth] = block.header.width;
  slots_[kInfoHeight] = block.header.height;
  slots_[kInfoOffset] = block.header.offset;
  slots_[kInfoNumScanlines] = block.header.num_scanlines;
}

}  // namespace ensight::shmem::binding
