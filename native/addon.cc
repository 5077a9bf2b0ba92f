// The Node-API binding: a thin layer over the core (shmem_stream.h). Built with C++ exceptions
// disabled (NAPI_DISABLE_CPP_EXCEPTIONS, -fno-exceptions) so nothing can unwind into the runtime;
// errors become JavaScript ShmemError instances (the class is handed in by src/shmem/native.ts).
//
// Hot-path shape: tryLock()/claim() return a status number and write the block's geometry into a
// Uint32Array the JS side allocated once, so a frame costs no object creation here; a zero-copy
// view is one external ArrayBuffer plus a Uint8Array, tracked by a weak reference so it can be
// detached at unlock.
#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include <napi.h>

#include "shmem_stream.h"

namespace ensight::shmem {
namespace {

// Layout of the Uint32Array both classes report a block through.
enum InfoSlot { kInfoBuffer, kInfoFrameNumber, kInfoWidth, kInfoHeight, kInfoOffset, kInfoNumScanlines, kInfoEpoch, kInfoSlots };

struct AddonData {
  Napi::FunctionReference error_class;
  // -1 not probed yet, 0 the runtime refuses external or detachable ArrayBuffers (copy instead), 1 usable.
  int zero_copy_views = -1;
};

AddonData& data_of(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

Napi::Error make_error(Napi::Env env, Status status, const std::string& message) {
  AddonData& data = data_of(env);
  const std::string code = status_name(status);
  if (!data.error_class.IsEmpty()) {
    Napi::Value error = data.error_class.New(
        {Napi::String::New(env, code), Napi::Number::New(env, static_cast<int>(status)), Napi::String::New(env, message)});
    if (!env.IsExceptionPending() && error.IsObject()) return Napi::Error(env, error);
  }
  Napi::Error error = Napi::Error::New(env, code + ": " + message);
  error.Set("code", Napi::String::New(env, code));
  error.Set("status", Napi::Number::New(env, static_cast<int>(status)));
  return error;
}

// Throws for error statuses (negative), returns the status number otherwise.
Napi::Value status_result(Napi::Env env, Status status, const char* what) {
  if (static_cast<int>(status) < 0) {
    make_error(env, status, what).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<int>(status));
}

std::string describe(const FileError& e, const std::string& path) {
  std::string text = std::string(e.operation) + (path.empty() ? "" : " " + path);
  if (e.sys_errno) text += ": " + std::string(strerror(e.sys_errno));
  if (e.status == Status::kBadFileSize) text += " (file size " + std::to_string(e.observed_size) + " bytes)";
  return text;
}

bool check_args(const Napi::CallbackInfo& info, size_t count, const char* usage) {
  if (info.Length() >= count) return true;
  make_error(info.Env(), Status::kBadArgs, usage).ThrowAsJavaScriptException();
  return false;
}

uint32_t u32_arg(const Napi::CallbackInfo& info, size_t i) {
  return info[i].IsNumber() ? info[i].As<Napi::Number>().Uint32Value() : 0;
}
int64_t ms_arg_to_ns(const Napi::CallbackInfo& info, size_t i, double fallback_ms) {
  const double ms = i < info.Length() && info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : fallback_ms;
  return ms < 0 ? -1 : static_cast<int64_t>(ms * 1e6);
}

// Whether this runtime lets us hand out external ArrayBuffers and detach them again. Probed once
// per environment on a static byte: a runtime that refuses either gets copies, never a view we
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

// Views handed out per buffer, as weak references: unlock/publish detaches the ones still alive.
// Each external view holds a reference on the Mapping (released by its finalizer), so memory a view
// points at stays mapped until the runtime has dropped the view, whatever the order of close and GC.
class ViewSet {
 public:
  Napi::Value make(Napi::Env env, Mapping* mapping, const Block& block, bool zero_copy) {
    const size_t length = block.header.block_bytes();
    napi_value array_buffer = nullptr;
    if (zero_copy && zero_copy_supported(env)) {
      mapping->retain();
      const napi_status st = napi_create_external_arraybuffer(env, block.pixels, length, release_mapping, mapping,
                                                              &array_buffer);
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

  // A view of a buffer's whole payload window (`length` bytes from `base`), made once per buffer of
  // the mapping and kept (strong reference) until close: per frame, JavaScript only makes a
  // Uint8Array over it. Not detached at unlock: the caller's contract is that it reads a block's
  // bytes only while the block is held (the mapping itself stays mapped while the view lives, so a
  // late read sees other frames' pixels, never unmapped memory). undefined where external buffers
  // are refused: the caller falls back to make().
  Napi::Value window(Napi::Env env, Mapping* mapping, int buffer, uint8_t* base, size_t length) {
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

  void detach(napi_env env, int buffer) {
    for (napi_ref ref : refs_[buffer]) {
      napi_value value = nullptr;
      if (napi_get_reference_value(env, ref, &value) == napi_ok && value != nullptr) napi_detach_arraybuffer(env, value);
      napi_delete_reference(env, ref);
    }
    refs_[buffer].clear();  // keeps its capacity: no allocation on the next frame
  }
  void detach_all(napi_env env) {
    for (size_t i = 0; i < kBufferCount; ++i) {
      detach(env, static_cast<int>(i));
      drop_window(env, static_cast<int>(i), true);
    }
  }
  // Without an env (finalizer during teardown): drop the references, views keep the mapping alive.
  void forget(napi_env env) {
    for (auto& refs : refs_) {
      for (napi_ref ref : refs) napi_delete_reference(env, ref);
      refs.clear();
    }
    for (size_t i = 0; i < kBufferCount; ++i) drop_window(env, static_cast<int>(i), false);
  }

 private:
  struct Window {
    napi_ref ref = nullptr;
    uint8_t* base = nullptr;
    size_t length = 0;
  };
  void drop_window(napi_env env, int buffer, bool detach_it) {
    Window& w = windows_[buffer];
    if (!w.ref) return;
    napi_value value = nullptr;
    if (detach_it && napi_get_reference_value(env, w.ref, &value) == napi_ok && value != nullptr) {
      napi_detach_arraybuffer(env, value);
    }
    napi_delete_reference(env, w.ref);
    w = Window{};
  }
  static void release_mapping(napi_env, void*, void* hint) { static_cast<Mapping*>(hint)->release(); }
  std::vector<napi_ref> refs_[kBufferCount];
  Window windows_[kBufferCount];
};

bool copy_block(const Napi::CallbackInfo& info, const Block& block, Mapping* mapping) {
  // copyTo(buffer, target, flip, placeInFrame)
  Napi::Env env = info.Env();
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    make_error(env, Status::kBadArgs, "copyTo needs a Uint8Array target").ThrowAsJavaScriptException();
    return false;
  }
  Napi::Uint8Array target = info[1].As<Napi::Uint8Array>();
  const bool flip = info.Length() > 2 && info[2].ToBoolean();
  const bool place = info.Length() > 3 && info[3].ToBoolean();
  const uint64_t need = place ? block.header.frame_bytes() : block.header.block_bytes();
  if (target.ByteLength() < need) {
    make_error(env, Status::kBadArgs,
               "target holds " + std::to_string(target.ByteLength()) + " bytes, needs " + std::to_string(need))
        .ThrowAsJavaScriptException();
    return false;
  }
  if (place) {
    place_block_rows(block.header, block.pixels, target.Data(), flip);
  } else if (flip) {
    BlockHeader rows_only = block.header;  // flip within the block: treat it as a frame of its own
    rows_only.offset = 0;
    rows_only.height = rows_only.num_scanlines;
    place_block_rows(rows_only, block.pixels, target.Data(), true);
  } else {
    std::memcpy(target.Data(), block.pixels, block.header.block_bytes());
  }
  if (mapping->truncated()) {
    make_error(env, Status::kBadFileSize, "the stream file was truncated while copying").ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

class InfoArray {
 public:
  bool bind(Napi::Env env, Napi::Value value) {
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
  void write(const Block& block, uint32_t epoch = 0) {
    slots_[kInfoEpoch] = epoch;
    slots_[kInfoBuffer] = static_cast<uint32_t>(block.buffer);
    slots_[kInfoFrameNumber] = block.header.frame_number;
    slots_[kInfoWidth] = block.header.width;
    slots_[kInfoHeight] = block.header.height;
    slots_[kInfoOffset] = block.header.offset;
    slots_[kInfoNumScanlines] = block.header.num_scanlines;
  }

 private:
  Napi::ObjectReference ref_;  // keeps the array (and so slots_) alive
  uint32_t* slots_ = nullptr;
};

// --- async waiting -------------------------------------------------------------------------
//
// One native thread per consumer sleeps in Consumer::wait_ready on the JS thread's behalf, so a
// Promise waits for a frame without blocking the event loop and without occupying a libuv pool
// thread (four by default, shared with fs and dns). The thread only waits; locking stays on the JS
// thread. The thread-safe function is ref'd only while a wait is pending, so an idle consumer does
// not keep the process alive.
//
// Two owners end the waiter, in either order: the consumer object (shutdown(), from close() or its
// destructor) and the thread-safe function's finalizer. The finalizer normally runs after
// shutdown's Release(), once the last queued result was delivered; but when the environment is
// torn down (the program returned without close()), Node-API finalizes the thread-safe function
// and collects the consumer object in no set order, so the finalizer may come first. Whichever
// comes first stops and joins the thread; the second deletes. Both run on the JS thread, so the
// count needs no atomics.
class AsyncWaiter;
void deliver_wait_result(Napi::Env env, Napi::Function, AsyncWaiter* self, int* result);
using WaiterTsfn = Napi::TypedThreadSafeFunction<AsyncWaiter, int, deliver_wait_result>;

class AsyncWaiter {
 public:
  static AsyncWaiter* start(Napi::Env env, Consumer* consumer, Status* status) {
    auto* waiter = new AsyncWaiter(consumer);
    waiter->tsfn_ = WaiterTsfn::New(env, "ensight-shmem-waiter", 0, 1, waiter, finalize);
    waiter->tsfn_.Unref(env);
    if (pthread_create(&waiter->thread_, nullptr, &AsyncWaiter::run, waiter) != 0) {
      *status = Status::kThreadCreateError;
      waiter->joined_ = true;   // no thread to stop
      waiter->owners_ = 1;      // nobody else holds it: the finalizer deletes it
      waiter->tsfn_.Release();
      return nullptr;
    }
    return waiter;
  }

  // keep_alive: the pending wait holds the event loop open (as a timer does); false for a
  // background reader that must not keep the host program alive once it is done.
  Napi::Value wait(Napi::Env env, int64_t deadline_ns, bool keep_alive) {
    if (deferred_) {
      make_error(env, Status::kLocked, "a waitReady() is already pending on this consumer").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    deferred_ = std::make_unique<Napi::Promise::Deferred>(env);
    Napi::Promise promise = deferred_->Promise();
    if (keep_alive) tsfn_.Ref(env);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      deadline_ns_ = deadline_ns;
      has_request_ = true;
    }
    wake_.notify_one();
    return promise;
  }

  // JS thread: stops the thread (waking it from the futex), rejects a pending wait, and lets the
  // thread-safe function finalize (which deletes this).
  void shutdown(Napi::Env env, Consumer* consumer, bool env_alive) {
    stop_thread(consumer);
    if (!tsfn_finalized_) {
      if (deferred_ && env_alive) {
        deferred_->Reject(make_error(env, Status::kUnconnected, "the stream was closed while waiting").Value());
        tsfn_.Unref(env);
      }
      deferred_.reset();
      tsfn_.Release();  // its finalizer drops the other owner's share
    } else {
      deferred_.reset();  // the environment is gone: nothing to settle
    }
    drop_owner();
  }

 private:
  friend void deliver_wait_result(Napi::Env env, Napi::Function, AsyncWaiter* self, int* result);
  explicit AsyncWaiter(Consumer* consumer) : consumer_(consumer) {}

  static void* run(void* self) {
    static_cast<AsyncWaiter*>(self)->loop();
    return nullptr;
  }
  void loop() {
    for (;;) {
      int64_t deadline;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [this] { return has_request_ || stop_; });
        if (stop_) return;
        has_request_ = false;
        deadline = deadline_ns_;
      }
      const Status status = consumer_->wait_ready(deadline, &cancel_);
      if (status == Status::kUnconnected) return;  // cancelled: shutdown settles the promise
      tsfn_.NonBlockingCall(new int(static_cast<int>(status)));
    }
  }

  // The thread-safe function is gone; at environment teardown this may precede shutdown(), while
  // the consumer object (and so the Consumer the thread waits on) is still alive.
  static void finalize(Napi::Env, void*, AsyncWaiter* self) {
    self->tsfn_finalized_ = true;
    self->stop_thread(self->consumer_);
    self->drop_owner();
  }

  // Wakes the thread from the futex or its condition variable and joins it; once only.
  void stop_thread(Consumer* consumer) {
    if (joined_) return;
    cancel_.store(true, std::memory_order_release);  // read by wait_ready's loop; release pairs with its acquire
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_one();
    consumer->wake_all();
    pthread_join(thread_, nullptr);
    joined_ = true;
  }

  void drop_owner() {
    if (--owners_ == 0) delete this;
  }

  Consumer* consumer_;
  WaiterTsfn tsfn_;
  pthread_t thread_{};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool has_request_ = false;
  bool stop_ = false;
  int64_t deadline_ns_ = 0;
  std::atomic<bool> cancel_{false};
  std::unique_ptr<Napi::Promise::Deferred> deferred_;  // JS thread only
  int owners_ = 2;                  // the consumer object and the thread-safe function; JS thread only
  bool joined_ = false;             // JS thread only
  bool tsfn_finalized_ = false;     // JS thread only
};

void deliver_wait_result(Napi::Env env, Napi::Function, AsyncWaiter* self, int* result) {
  const Status status = static_cast<Status>(*result);
  delete result;
  if (env == nullptr || self == nullptr || !self->deferred_) return;
  auto deferred = std::move(self->deferred_);
  self->tsfn_.Unref(env);
  if (status == Status::kOk || status == Status::kNoFrameAvailable) {
    deferred->Resolve(Napi::Boolean::New(env, status == Status::kOk));
  } else {
    deferred->Reject(make_error(env, status, "waiting for a frame").Value());
  }
}

int64_t deadline_after(int64_t timeout_ns) { return timeout_ns < 0 ? -1 : monotonic_now_ns() + timeout_ns; }

Napi::Value closed_error(Napi::Env env) {
  make_error(env, Status::kUnconnected, "the stream is closed").ThrowAsJavaScriptException();
  return env.Undefined();
}

void apply_poll_interval(const Napi::Object& options, auto& side) {
  const Napi::Value value = options.Get("pollIntervalMs");
  if (value.IsNumber()) {
    const double ms = value.As<Napi::Number>().DoubleValue();
    if (ms > 0) side.set_poll_interval_ns(static_cast<int64_t>(ms * 1e6));
  }
}

// --- Consumer ------------------------------------------------------------------------------

class ConsumerWrap : public Napi::ObjectWrap<ConsumerWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "NativeConsumer",
                       {InstanceMethod<&ConsumerWrap::path>("path"),
                        InstanceMethod<&ConsumerWrap::payload_size>("payloadSize"),
                        InstanceMethod<&ConsumerWrap::file_size>("fileSize"),
                        InstanceMethod<&ConsumerWrap::attach>("attach"),
                        InstanceMethod<&ConsumerWrap::try_lock>("tryLock"),
                        InstanceMethod<&ConsumerWrap::wait_lock>("waitLock"),
                        InstanceMethod<&ConsumerWrap::wait_ready>("waitReady"),
                        InstanceMethod<&ConsumerWrap::view>("view"),
                        InstanceMethod<&ConsumerWrap::payload_window>("payloadWindow"),
                        InstanceMethod<&ConsumerWrap::copy_to>("copyTo"),
                        InstanceMethod<&ConsumerWrap::unlock>("unlock"),
                        InstanceMethod<&ConsumerWrap::stats>("stats"),
                        InstanceMethod<&ConsumerWrap::close>("close")});
  }

  // new NativeConsumer({ path?, create?: { directory?, size? }, info, zeroCopy?, pollIntervalMs? })
  explicit ConsumerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ConsumerWrap>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) {
      make_error(env, Status::kBadArgs, "options object required").ThrowAsJavaScriptException();
      return;
    }
    Napi::Object options = info[0].As<Napi::Object>();
    if (!info_.bind(env, options.Get("info"))) return;
    zero_copy_ = !options.Get("zeroCopy").IsBoolean() || options.Get("zeroCopy").As<Napi::Boolean>().Value();
    FileError error;
    std::string path;
    Mapping* mapping = nullptr;
    if (options.Get("create").IsObject()) {
      Napi::Object create = options.Get("create").As<Napi::Object>();
      CreateOptions co;
      if (create.Get("directory").IsString()) co.directory = create.Get("directory").As<Napi::String>().Utf8Value();
      if (create.Get("size").IsNumber()) {
        const double size = create.Get("size").As<Napi::Number>().DoubleValue();
        co.size = size > 0 && size < 1e15 ? static_cast<uint64_t>(size) : 0;
      }
      path = co.directory;
      mapping = Mapping::create(co, &error);
    } else if (options.Get("path").IsString()) {
      path = options.Get("path").As<Napi::String>().Utf8Value();
      mapping = Mapping::open(path, &error);
    } else {
      make_error(env, Status::kBadArgs, "options.path or options.create required").ThrowAsJavaScriptException();
      return;
    }
    if (!mapping) {
      make_error(env, error.status, describe(error, path)).ThrowAsJavaScriptException();
      return;
    }
    consumer_ = new Consumer(mapping);
    mapping->release();  // the Consumer holds its own reference
    apply_poll_interval(options, *consumer_);
  }

  ~ConsumerWrap() override {
    // Collected without close(): stop the waiter and remove the file's name; locks and the mapping
    // stay as they are for any view still alive (see Consumer::~Consumer).
    if (!consumer_) return;
    if (waiter_) waiter_->shutdown(Env(), consumer_, false);
    views_.forget(Env());
    consumer_->mapping()->remove_file();
    delete consumer_;
  }

 private:
  bool open(Napi::Env env) {
    if (consumer_) return true;
    closed_error(env);
    return false;
  }

  Napi::Value path(const Napi::CallbackInfo& info) {
    if (!open(info.Env())) return info.Env().Undefined();
    return Napi::String::New(info.Env(), consumer_->mapping()->path());
  }
  Napi::Value payload_size(const Napi::CallbackInfo& info) {
    if (!open(info.Env())) return info.Env().Undefined();
    return Napi::Number::New(info.Env(), static_cast<double>(consumer_->layout().payload_size));
  }
  Napi::Value file_size(const Napi::CallbackInfo& info) {
    if (!open(info.Env())) return info.Env().Undefined();
    return Napi::Number::New(info.Env(), static_cast<double>(consumer_->mapping()->layout().file_size));
  }
  Napi::Value attach(const Napi::CallbackInfo& info) {
    if (!open(info.Env())) return info.Env().Undefined();
    return Napi::Boolean::New(info.Env(), consumer_->attach());
  }

  Napi::Value lock_result(Napi::Env env, Status status, const Block& block) {
    if (status == Status::kOk) {
      info_.write(block, consumer_->epoch());
      current_[block.buffer] = block;  // view/copyTo serve exactly this validated snapshot
    }
    return status_result(env, status, "locking a frame");
  }
  Napi::Value try_lock(const Napi::CallbackInfo& info) {
    if (!open(info.Env())) return info.Env().Undefined();
    Block block;
    return lock_result(info.Env(), consumer_->try_lock(&block), block);
  }
  // waitLock(timeoutMs): blocks this thread (workers, benchmarks). Negative: no timeout.
  Napi::Value wait_lock(const Napi::CallbackInfo& info) {
    if (!open(info.Env())) return info.Env().Undefined();
    Block block;
    const Status status = consumer_->wait_lock(deadline_after(ms_arg_to_ns(info, 0, -1)), &block);
    return lock_result(info.Env(), status, block);
  }
  // waitReady(timeoutMs, keepAlive = true): Promise<boolean>, true once a block is ready to lock.
  Napi::Value wait_ready(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!open(env)) return env.Undefined();
    if (!waiter_) {
      Status status = Status::kOk;
      waiter_ = AsyncWaiter::start(env, consumer_, &status);
      if (!waiter_) return status_result(env, status, "starting the waiter thread");
    }
    const bool keep_alive = !info[1].IsBoolean() || info[1].As<Napi::Boolean>().Value();
    return waiter_->wait(env, deadline_after(ms_arg_to_ns(info, 0, -1)), keep_alive);
  }

  bool locked_block(const Napi::CallbackInfo& info, Block* block) {
    if (!open(info.Env()) || !check_args(info, 1, "buffer index required")) return false;
    const int buffer = static_cast<int>(u32_arg(info, 0));
    if (!consumer_->is_locked(buffer) || !current_[buffer].pixels) {
      make_error(info.Env(), Status::kNotLocked, "buffer " + std::to_string(buffer) + " is not locked")
          .ThrowAsJavaScriptException();
      return false;
    }
    *block = current_[buffer];
    return true;
  }
  Napi::Value view(const Napi::CallbackInfo& info) {
    Block block;
    if (!locked_block(info, &block)) return info.Env().Undefined();
    return views_.make(info.Env(), consumer_->mapping(), block, zero_copy_);
  }
  // payloadWindow(buffer): the ArrayBuffer over a locked buffer's whole payload window (the largest
  // block validation admits), made once per buffer; undefined where views are refused or off.
  Napi::Value payload_window(const Napi::CallbackInfo& info) {
    Block block;
    if (!locked_block(info, &block)) return info.Env().Undefined();
    if (!zero_copy_) return info.Env().Undefined();
    return views_.window(info.Env(), consumer_->mapping(), block.buffer, block.pixels, consumer_->block_limit());
  }
  Napi::Value copy_to(const Napi::CallbackInfo& info) {
    Block block;
    if (!check_args(info, 2, "copyTo(buffer, target)") || !locked_block(info, &block)) return info.Env().Undefined();
    return Napi::Boolean::New(info.Env(), copy_block(info, block, consumer_->mapping()));
  }
  Napi::Value unlock(const Napi::CallbackInfo& info) {
    if (!open(info.Env()) || !check_args(info, 1, "buffer index required")) return info.Env().Undefined();
    const int buffer = static_cast<int>(u32_arg(info, 0));
    if (consumer_->is_locked(buffer)) {
      views_.detach(info.Env(), buffer);
      current_[buffer] = Block{};
    }
    return status_result(info.Env(), consumer_->unlock(buffer), "unlocking a frame");
  }
  Napi::Value stats(const Napi::CallbackInfo& info) {
    if (!open(info.Env())) return info.Env().Undefined();
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("blocksLocked", static_cast<double>(consumer_->stats().blocks_locked));
    out.Set("blocksRejected", static_cast<double>(consumer_->stats().blocks_rejected));
    out.Set("attached", consumer_->attached());
    const int reading = consumer_->reading();
    out.Set("layout", reading < 0 ? info.Env().Null()
                                  : Napi::String::New(info.Env(), reading_name(static_cast<Reading>(reading))));
    const int initial = consumer_->initial_state();
    out.Set("initialState", initial < 0 ? info.Env().Null() : Napi::Number::New(info.Env(), initial));
    return out;
  }
  Napi::Value close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!consumer_) return env.Undefined();
    if (waiter_) waiter_->shutdown(env, consumer_, true);
    waiter_ = nullptr;
    views_.detach_all(env);
    consumer_->unlock_all();
    consumer_->mapping()->remove_file();
    delete consumer_;
    consumer_ = nullptr;
    return env.Undefined();
  }

  Consumer* consumer_ = nullptr;
  AsyncWaiter* waiter_ = nullptr;
  ViewSet views_;
  InfoArray info_;
  bool zero_copy_ = true;
  Block current_[kBufferCount];
};

// --- Producer ------------------------------------------------------------------------------

class ProducerWrap : public Napi::ObjectWrap<ProducerWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "NativeProducer",
                       {InstanceMethod<&ProducerWrap::path>("path"),
                        InstanceMethod<&ProducerWrap::payload_size>("payloadSize"),
                        InstanceMethod<&ProducerWrap::connected>("connected"),
                        InstanceMethod<&ProducerWrap::put_frame>("putFrame"),
                        InstanceMethod<&ProducerWrap::claim>("claim"),
                        InstanceMethod<&ProducerWrap::view>("view"),
                        InstanceMethod<&ProducerWrap::payload_window>("payloadWindow"),
                        InstanceMethod<&ProducerWrap::fill_from>("fillFrom"),
                        InstanceMethod<&ProducerWrap::publish>("publish"),
                        InstanceMethod<&ProducerWrap::abandon>("abandon"),
                        InstanceMethod<&ProducerWrap::stats>("stats"),
                        InstanceMethod<&ProducerWrap::close>("close")});
  }

  // new NativeProducer({ path, info, pollIntervalMs? }): opens the stream file and initialises it.
  explicit ProducerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProducerWrap>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject() || !info[0].As<Napi::Object>().Get("path").IsString()) {
      make_error(env, Status::kBadArgs, "options.path required").ThrowAsJavaScriptException();
      return;
    }
    Napi::Object options = info[0].As<Napi::Object>();
    if (!info_.bind(env, options.Get("info"))) return;
    const std::string path = options.Get("path").As<Napi::String>().Utf8Value();
    FileError error;
    Mapping* mapping = Mapping::open(path, &error);
    if (!mapping) {
      make_error(env, error.status, describe(error, path)).ThrowAsJavaScriptException();
      return;
    }
    producer_ = new Producer(mapping);
    mapping->release();
    apply_poll_interval(options, *producer_);
    producer_->initialise();
  }
  ~ProducerWrap() override {
    if (!producer_) return;
    views_.forget(Env());
    delete producer_;
  }

 private:
  bool open(Napi::Env env) {
    if (producer_) return true;
    closed_error(env);
    return false;
  }
  Napi::Value path(const Napi::CallbackInfo& info) {
    if (!open(info.Env())) return info.Env().Undefined();
    return Napi::String::New(info.Env(), producer_->mapping()->path());
  }
  Napi::Value payload_size(const Napi::CallbackInfo& info) {
    if (!open(info.Env())) return info.Env().Undefined();
    return Napi::Number::New(info.Env(), static_cast<double>(producer_->mapping()->layout().payload_size));
  }
  Napi::Value connected(const Napi::CallbackInfo& info) {
    if (!open(info.Env())) return info.Env().Undefined();
    return Napi::Boolean::New(info.Env(), producer_->connected());
  }

  // putFrame(frameNumber, width, height, pixels: Uint8Array, flags, blockWaitMs, firstBlockWaitMs)
  Napi::Value put_frame(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!open(env) || !check_args(info, 4, "putFrame(frameNumber, width, height, pixels)")) return env.Undefined();
    if (!info[3].IsTypedArray() || info[3].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      make_error(env, Status::kBadArgs, "pixels must be a Uint8Array").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Uint8Array pixels = info[3].As<Napi::Uint8Array>();
    const uint32_t width = u32_arg(info, 1), height = u32_arg(info, 2);
    if (pixels.ByteLength() != uint64_t{width} * height * kBytesPerPixel) {
      make_error(env, Status::kBadArgs,
                 "pixels hold " + std::to_string(pixels.ByteLength()) + " bytes, a " + std::to_string(width) + "x" +
                     std::to_string(height) + " RGB frame needs " + std::to_string(uint64_t{width} * height * 3))
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    const Status status = producer_->put_frame(u32_arg(info, 0), width, height, pixels.Data(), pixels.ByteLength(),
                                               u32_arg(info, 4), ms_arg_to_ns(info, 5, 1000), ms_arg_to_ns(info, 6, 0));
    return status_result(env, status, "putting a frame");
  }
  // claim(frameNumber, width, height, offset, waitMs): status; on OK the block is in info.
  Napi::Value claim(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!open(env) || !check_args(info, 4, "claim(frameNumber, width, height, offset, waitMs)")) return env.Undefined();
    Block block;
    const Status status =
        producer_->claim(u32_arg(info, 0), u32_arg(info, 1), u32_arg(info, 2), u32_arg(info, 3), ms_arg_to_ns(info, 4, 0), &block);
    if (status == Status::kOk) {
      info_.write(block);
      claimed_[block.buffer] = block;
    }
    return status_result(env, status, "claiming a buffer");
  }
  bool claimed_block(const Napi::CallbackInfo& info, Block* block) {
    if (!open(info.Env()) || !check_args(info, 1, "buffer index required")) return false;
    const uint32_t buffer = u32_arg(info, 0);
    if (buffer >= kBufferCount || !claimed_[buffer].pixels) {
      make_error(info.Env(), Status::kNotLocked, "buffer " + std::to_string(buffer) + " is not claimed")
          .ThrowAsJavaScriptException();
      return false;
    }
    *block = claimed_[buffer];
    return true;
  }
  // Copies the claimed block's rows from `source` (bytes from `sourceOffset` on) into the block:
  // the producer's one copy done natively, as fast in every runtime (Bun's TypedArray.set into an
  // external buffer runs at half the speed), and possible where zero-copy views are refused.
  Napi::Value fill_from(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Block block;
    if (!claimed_block(info, &block)) return env.Undefined();
    if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      make_error(env, Status::kBadArgs, "fillFrom: source must be a Uint8Array").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Uint8Array source = info[1].As<Napi::Uint8Array>();
    const double offset = info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : 0;
    const uint64_t bytes = block.header.block_bytes();
    if (!(offset >= 0) || offset > static_cast<double>(source.ByteLength()) ||
        source.ByteLength() - static_cast<uint64_t>(offset) < bytes) {
      make_error(env, Status::kBadArgs,
                 "fillFrom: the source has no " + std::to_string(bytes) + " bytes at offset " + std::to_string(offset))
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    std::memcpy(block.pixels, source.Data() + static_cast<uint64_t>(offset), bytes);
    return env.Undefined();
  }

  Napi::Value view(const Napi::CallbackInfo& info) {
    Block block;
    if (!claimed_block(info, &block)) return info.Env().Undefined();
    if (!zero_copy_supported(info.Env())) {
      make_error(info.Env(), Status::kBadArgs, "this runtime cannot lend zero-copy views; use putFrame")
          .ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    return views_.make(info.Env(), producer_->mapping(), block, true);
  }
  Napi::Value payload_window(const Napi::CallbackInfo& info) {
    Block block;
    if (!claimed_block(info, &block)) return info.Env().Undefined();
    const uint64_t n = producer_->mapping()->layout().payload_size;
    return views_.window(info.Env(), producer_->mapping(), block.buffer, block.pixels, static_cast<size_t>(n));
  }
  Napi::Value finish(const Napi::CallbackInfo& info, bool publish) {
    Block block;
    if (!claimed_block(info, &block)) return info.Env().Undefined();
    views_.detach(info.Env(), block.buffer);
    claimed_[block.buffer] = Block{};
    if (publish && producer_->mapping()->truncated()) {
      producer_->abandon(block);
      return status_result(info.Env(), Status::kBadFileSize, "the stream file was truncated");
    }
    publish ? producer_->publish(block) : producer_->abandon(block);
    return info.Env().Undefined();
  }
  Napi::Value publish(const Napi::CallbackInfo& info) { return finish(info, true); }
  Napi::Value abandon(const Napi::CallbackInfo& info) { return finish(info, false); }
  Napi::Value stats(const Napi::CallbackInfo& info) {
    if (!open(info.Env())) return info.Env().Undefined();
    const ProducerStats& s = producer_->stats();
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("framesPublished", static_cast<double>(s.frames_published));
    out.Set("framesDropped", static_cast<double>(s.frames_dropped));
    out.Set("framesUnconnected", static_cast<double>(s.frames_unconnected));
    out.Set("blocksPublished", static_cast<double>(s.blocks_published));
    return out;
  }
  Napi::Value close(const Napi::CallbackInfo& info) {
    if (!producer_) return info.Env().Undefined();
    views_.detach_all(info.Env());
    for (auto& block : claimed_) {
      if (block.pixels) producer_->abandon(block);
      block = Block{};
    }
    delete producer_;
    producer_ = nullptr;
    return info.Env().Undefined();
  }

  Producer* producer_ = nullptr;
  ViewSet views_;
  InfoArray info_;
  Block claimed_[kBufferCount];
};

Napi::Value configure(const Napi::CallbackInfo& info) {
  if (info[0].IsFunction()) data_of(info.Env()).error_class = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Value monotonic_now(const Napi::CallbackInfo& info) {
  return Napi::BigInt::New(info.Env(), static_cast<int64_t>(monotonic_now_ns()));
}

Napi::Value zero_copy_available(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), zero_copy_supported(info.Env()));
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonData());
  exports.Set("configure", Napi::Function::New<configure>(env, "configure"));
  exports.Set("monotonicNowNs", Napi::Function::New<monotonic_now>(env, "monotonicNowNs"));
  exports.Set("zeroCopyAvailable", Napi::Function::New<zero_copy_available>(env, "zeroCopyAvailable"));
  exports.Set("NativeConsumer", ConsumerWrap::define(env));
  exports.Set("NativeProducer", ProducerWrap::define(env));
  exports.Set("defaultFileSize", Napi::Number::New(env, static_cast<double>(kDefaultFileSize)));
  exports.Set("pollIntervalMs", Napi::Number::New(env, kDefaultPollIntervalNs / 1e6));
  exports.Set("guardedMappings", Napi::Function::New(env, [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Napi::Number::New(info.Env(), static_cast<double>(sigbus_guarded_mappings()));
  }, "guardedMappings"));
  return exports;
}

}  // namespace
}  // namespace ensight::shmem

static Napi::Object init_module(Napi::Env env, Napi::Object exports) { return ensight::shmem::init(env, exports); }
NODE_API_MODULE(ensight_shmem, init_module)
