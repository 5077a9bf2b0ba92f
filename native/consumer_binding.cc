// NativeConsumer: the Node-API face of a Consumer (shmem_stream.h) and its ReadyWaiter
// (shmem_waiter.h). Hot-path shape: tryLock() returns a status number and writes the block's
// geometry into the info Uint32Array, so a frame costs no object creation here.
#include <memory>
#include <string>

#include "binding_support.h"
#include "binding_views.h"
#include "shmem_copy.h"
#include "shmem_handoff.h"
#include "shmem_waiter.h"

namespace ensight::shmem::binding {
namespace {

// --- async waiting -------------------------------------------------------------------------
//
// The ReadyWaiter's thread waits; its outcome reaches the JS thread through a thread-safe
// function, which settles the pending Promise. The thread-safe function is ref'd only while a wait
// is pending, so an idle consumer does not keep the process alive.
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
    if (const Status started = waiter->core_.start(); started != Status::kOk) {
      *status = started;
      waiter->owners_ = 1;  // nobody else holds it: the finalizer deletes it
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
    core_.request(deadline_ns);
    return promise;
  }

  // JS thread: stops the thread (waking it from the futex), rejects a pending wait, and lets the
  // thread-safe function finalize (which deletes this).
  void shutdown(Napi::Env env, bool env_alive) {
    core_.stop();
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
  explicit AsyncWaiter(Consumer* consumer) : core_(consumer, &AsyncWaiter::queue_result, this) {}

  // Waiter thread: hands the outcome to the JS thread.
  static void queue_result(void* self, Status status) {
    static_cast<AsyncWaiter*>(self)->tsfn_.NonBlockingCall(new int(static_cast<int>(status)));
  }

  // The thread-safe function is gone; at environment teardown this may precede shutdown(), while
  // the consumer object (and so the Consumer the thread waits on) is still alive.
  static void finalize(Napi::Env, void*, AsyncWaiter* self) {
    self->tsfn_finalized_ = true;
    self->core_.stop();
    self->drop_owner();
  }

  void drop_owner() {
    if (--owners_ == 0) delete this;
  }

  ReadyWaiter core_;
  WaiterTsfn tsfn_;
  std::unique_ptr<Napi::Promise::Deferred> deferred_;  // JS thread only
  int owners_ = 2;                // the consumer object and the thread-safe function; JS thread only
  bool tsfn_finalized_ = false;   // JS thread only
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

// --- NativeConsumer ------------------------------------------------------------------------

class ConsumerWrap : public SideWrap<ConsumerWrap, Consumer> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "NativeConsumer",
                       {InstanceMethod("path", &ConsumerWrap::path),
                        InstanceMethod("payloadSize", &ConsumerWrap::payload_size),
                        InstanceMethod<&ConsumerWrap::file_size>("fileSize"),
                        InstanceMethod<&ConsumerWrap::attach>("attach"),
                        InstanceMethod<&ConsumerWrap::try_lock>("tryLock"),
                        InstanceMethod<&ConsumerWrap::wait_lock>("waitLock"),
                        InstanceMethod<&ConsumerWrap::wait_ready>("waitReady"),
                        InstanceMethod<&ConsumerWrap::view>("view"),
                        InstanceMethod<&ConsumerWrap::payload_window>("payloadWindow"),
                        InstanceMethod<&ConsumerWrap::copy_to>("copyTo"),
                        InstanceMethod<&ConsumerWrap::lend_frame>("lendFrame"),
                        InstanceMethod<&ConsumerWrap::unlock>("unlock"),
                        InstanceMethod<&ConsumerWrap::stats>("stats"),
                        InstanceMethod<&ConsumerWrap::producer_wakes>("producerWakes"),
                        InstanceMethod<&ConsumerWrap::close>("close")});
  }

  // new NativeConsumer({ path?, create?: { directory?, size? }, info, zeroCopy?, framePoolBytes?, framePoolFrames?,
  // pollIntervalMs? })
  explicit ConsumerWrap(const Napi::CallbackInfo& info) : SideWrap(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) {
      make_error(env, Status::kBadArgs, "options object required").ThrowAsJavaScriptException();
      return;
    }
    Napi::Object options = info[0].As<Napi::Object>();
    if (!info_.bind(env, options.Get("info"))) return;
    Napi::Value value;
    bool present = false;
    if (!option_of_type(options, "zeroCopy", napi_boolean, &value, &present)) return;
    zero_copy_ = !present || value.As<Napi::Boolean>().Value();
    if (!option_of_type(options, "framePoolBytes", napi_number, &value, &present)) return;
    const double cap = present ? value.As<Napi::Number>().DoubleValue() : 0;
    if (!option_of_type(options, "framePoolFrames", napi_number, &value, &present)) return;
    const double frames = present ? value.As<Napi::Number>().DoubleValue() : 0;
    lender_.set_cap(cap > 0 && cap < 1e15 ? static_cast<size_t>(cap) : 0,
                    frames > 0 && frames < 1e6 ? static_cast<size_t>(frames) : 0);
    FileError error;
    std::string path;
    Mapping* mapping = nullptr;
    if (!option_of_type(options, "create", napi_object, &value, &present)) return;
    if (present) {
      Napi::Object create = value.As<Napi::Object>();
      CreateOptions co;
      if (!option_of_type(create, "directory", napi_string, &value, &present)) return;
      if (present) co.directory = value.As<Napi::String>().Utf8Value();
      if (!option_of_type(create, "size", napi_number, &value, &present)) return;
      if (present) {
        const double size = value.As<Napi::Number>().DoubleValue();
        co.size = size > 0 && size < 1e15 ? static_cast<uint64_t>(size) : 0;
      }
      path = co.directory;
      mapping = Mapping::create(co, &error);
    } else {
      if (!option_of_type(options, "path", napi_string, &value, &present)) return;
      if (!present) {
        make_error(env, Status::kBadArgs, "options.path or options.create required").ThrowAsJavaScriptException();
        return;
      }
      path = value.As<Napi::String>().Utf8Value();
      mapping = Mapping::open(path, &error);
    }
    if (!mapping) {
      make_error(env, error.status, describe(error, path)).ThrowAsJavaScriptException();
      return;
    }
    side_ = new Consumer(mapping);
    mapping->release();  // the Consumer holds its own reference
    if (!apply_poll_interval(options, *side_)) close_now(env, false);
  }

  ~ConsumerWrap() override {
    // Collected without close(): stop the waiter and remove the file's name; locks and the mapping
    // stay as they are for any view still alive (see Consumer).
    if (side_) close_now(Env(), false);
  }

 private:
  Napi::Value file_size(const Napi::CallbackInfo& info) {
    if (!open(info.Env())) return info.Env().Undefined();
    return Napi::Number::New(info.Env(), static_cast<double>(side_->mapping()->layout().file_size));
  }
  Napi::Value attach(const Napi::CallbackInfo& info) {
    if (!open(info.Env())) return info.Env().Undefined();
    return Napi::Boolean::New(info.Env(), side_->attach());
  }

  Napi::Value lock_result(Napi::Env env, Status status, const Block& block) {
    if (status == Status::kOk) {
      info_.write(block, side_->epoch());
      current_[block.buffer] = block;  // view/copyTo serve exactly this validated snapshot
    }
    return status_result(env, status, "locking a frame");
  }
  Napi::Value try_lock(const Napi::CallbackInfo& info) {
    if (!open(info.Env())) return info.Env().Undefined();
    Block block;
    return lock_result(info.Env(), side_->try_lock(&block), block);
  }
  // waitLock(timeoutMs): blocks this thread (workers, benchmarks). Negative: no timeout.
  Napi::Value wait_lock(const Napi::CallbackInfo& info) {
    int64_t timeout_ns = -1;
    if (!open(info.Env()) || !ms_arg_to_ns(info, 0, "timeoutMs", -1, &timeout_ns)) return info.Env().Undefined();
    Block block;
    const Status status = side_->wait_lock(deadline_after(timeout_ns), &block);
    return lock_result(info.Env(), status, block);
  }
  // waitReady(timeoutMs, keepAlive = true): Promise<boolean>, true once a block is ready to lock.
  Napi::Value wait_ready(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int64_t timeout_ns = -1;
    bool keep_alive = true;
    if (!open(env) || !ms_arg_to_ns(info, 0, "timeoutMs", -1, &timeout_ns) ||
        !bool_arg(info, 1, "keepAlive", true, &keep_alive)) {
      return env.Undefined();
    }
    if (!waiter_) {
      Status status = Status::kOk;
      waiter_ = AsyncWaiter::start(env, side_, &status);
      if (!waiter_) return status_result(env, status, "starting the waiter thread");
    }
    return waiter_->wait(env, deadline_after(timeout_ns), keep_alive);
  }

  bool locked_block(const Napi::CallbackInfo& info, Block* block) {
    uint32_t buffer = 0;
    if (!open(info.Env()) || !u32_arg(info, 0, "buffer", &buffer)) return false;
    if (buffer >= kBufferCount || !side_->is_locked(static_cast<int>(buffer)) || !current_[buffer].pixels) {
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
    return views_.make(info.Env(), side_->mapping(), block, zero_copy_);
  }
  // payloadWindow(buffer): the ArrayBuffer over a locked buffer's whole payload window (the largest
  // block validation admits), made once per buffer; undefined where views are refused or off.
  Napi::Value payload_window(const Napi::CallbackInfo& info) {
    Block block;
    if (!locked_block(info, &block)) return info.Env().Undefined();
    if (!zero_copy_) return info.Env().Undefined();
    return views_.window(info.Env(), side_->mapping(), block.buffer, block.pixels, side_->block_limit());
  }
  // copyTo(buffer, target, flip, placeInFrame): true once copied.
  Napi::Value copy_to(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Block block;
    Napi::Uint8Array target;
    bool flip = false, place = false;
    if (!locked_block(info, &block) || !bytes_arg(info, 1, "target", &target) || !bool_arg(info, 2, "flip", false, &flip) ||
        !bool_arg(info, 3, "placeInFrame", false, &place)) {
      return env.Undefined();
    }
    const Status status = copy_block_out(block, *side_->mapping(), target.Data(), target.ByteLength(), flip, place);
    if (status == Status::kBadArgs) {
      make_error(env, status,
                 "target holds " + std::to_string(target.ByteLength()) + " bytes, needs " +
                     std::to_string(copy_out_bytes(block.header, place)))
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (status != Status::kOk) return status_result(env, status, "the stream file was truncated while copying");
    return Napi::Boolean::New(env, true);
  }
  // lendFrame(bytes): a Uint8Array of its own for a whole-frame copy, from the frame pool; undefined
  // when the pool cannot lend (the caller allocates one).
  Napi::Value lend_frame(const Napi::CallbackInfo& info) {
    uint32_t bytes = 0;
    if (!open(info.Env()) || !u32_arg(info, 0, "bytes", &bytes)) return info.Env().Undefined();
    return lender_.lend(info.Env(), bytes);
  }
  Napi::Value unlock(const Napi::CallbackInfo& info) {
    uint32_t buffer = 0;
    if (!open(info.Env()) || !u32_arg(info, 0, "buffer", &buffer)) return info.Env().Undefined();
    const int index = buffer < kBufferCount ? static_cast<int>(buffer) : -1;
    if (index >= 0 && side_->is_locked(index)) {
      views_.detach(info.Env(), index);
      current_[index] = Block{};
    }
    return status_result(info.Env(), side_->unlock(index), "unlocking a frame");
  }
  Napi::Value producer_wakes(const Napi::CallbackInfo& info) {
    if (!open(info.Env())) return info.Env().Undefined();
    return Napi::Boolean::New(info.Env(), side_->producer_wakes());
  }
  Napi::Value stats(const Napi::CallbackInfo& info) {
    if (!open(info.Env())) return info.Env().Undefined();
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("blocksLocked", static_cast<double>(side_->stats().blocks_locked));
    out.Set("blocksRejected", static_cast<double>(side_->stats().blocks_rejected));
    out.Set("producerWakes", side_->producer_wakes());
    out.Set("unwokenBlocks", static_cast<double>(side_->unwoken_blocks()));
    out.Set("attached", side_->attached());
    const int reading = side_->reading();
    out.Set("layout", reading < 0 ? info.Env().Null()
                                  : Napi::String::New(info.Env(), reading_name(static_cast<Reading>(reading))));
    const int initial = side_->initial_state();
    out.Set("initialState", initial < 0 ? info.Env().Null() : Napi::Number::New(info.Env(), initial));
    const FramePool::Counts pool = lender_.counts();
    Napi::Object copies = Napi::Object::New(info.Env());
    copies.Set("lentBlocks", static_cast<double>(pool.lent_blocks));
    copies.Set("freeBlocks", static_cast<double>(pool.free_blocks));
    copies.Set("ownedBytes", static_cast<double>(pool.owned_bytes));
    copies.Set("capBytes", static_cast<double>(pool.cap_bytes));
    copies.Set("blocksMapped", static_cast<double>(pool.blocks_mapped));
    copies.Set("lendsRefused", static_cast<double>(pool.lends_refused));
    out.Set("framePool", copies);
    return out;
  }
  Napi::Value close(const Napi::CallbackInfo& info) {
    if (side_) close_now(info.Env(), true);
    return info.Env().Undefined();
  }

  // close() (env_alive): unlocks everything and detaches every view. From the destructor: views
  // may outlive us, so locks stay and the views keep the mapping (see Consumer). Either way the
  // waiter stops and the file's name goes.
  void close_now(Napi::Env env, bool env_alive) {
    if (waiter_) waiter_->shutdown(env, env_alive);
    waiter_ = nullptr;
    if (env_alive) {
      views_.detach_all(env);
      side_->unlock_all();
    } else {
      views_.forget(env);
    }
    // Frames still lent stay valid (their arrays own their blocks).
    lender_.close(env, env_alive);
    side_->mapping()->remove_file();
    delete side_;
    side_ = nullptr;
  }

  AsyncWaiter* waiter_ = nullptr;
  FrameLender lender_;
  ViewSet views_;
  InfoArray info_;
  bool zero_copy_ = true;
  Block current_[kBufferCount];
};

}  // namespace

Napi::Function define_consumer_class(Napi::Env env) { return ConsumerWrap::define(env); }

}  // namespace ensight::shmem::binding
