// NativeProducer: the Node-API face of a Producer (shmem_stream.h), what the emulator and the
// benchmarks publish frames through. claim() returns a status number and writes the claimed
// block's geometry into the info Uint32Array.
#include <string>

#include "binding_support.h"
#include "binding_views.h"
#include "shmem_copy.h"

namespace ensight::shmem::binding {
namespace {

class ProducerWrap : public SideWrap<ProducerWrap, Producer> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "NativeProducer",
                       {InstanceMethod("path", &ProducerWrap::path),
                        InstanceMethod("payloadSize", &ProducerWrap::payload_size),
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

  // new NativeProducer({ path, info, pollIntervalMs?, wakeConsumer? }): opens the stream file and
  // initialises it.
  explicit ProducerWrap(const Napi::CallbackInfo& info) : SideWrap(info) {
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
    Producer* producer = new Producer(mapping);
    mapping->release();
    Napi::Value wake;
    bool wake_given = false;
    if (!apply_poll_interval(options, *producer) ||
        !option_of_type(options, "wakeConsumer", napi_boolean, &wake, &wake_given)) {
      delete producer;
      return;
    }
    if (wake_given) producer->set_wakes(wake.As<Napi::Boolean>().Value());
    producer->initialise();
    side_ = producer;
  }
  ~ProducerWrap() override {
    if (!side_) return;
    views_.forget(Env());
    delete side_;
  }

 private:
  Napi::Value connected(const Napi::CallbackInfo& info) {
    if (!open(info.Env())) return info.Env().Undefined();
    return Napi::Boolean::New(info.Env(), side_->connected());
  }

  // putFrame(frameNumber, width, height, pixels: Uint8Array, flags, blockWaitMs, firstBlockWaitMs)
  Napi::Value put_frame(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t frame_number = 0, width = 0, height = 0, flags = 0;
    Napi::Uint8Array pixels;
    int64_t block_wait_ns = 0, first_block_wait_ns = 0;
    if (!open(env) || !u32_arg(info, 0, "frameNumber", &frame_number) || !u32_arg(info, 1, "width", &width) ||
        !u32_arg(info, 2, "height", &height) || !bytes_arg(info, 3, "pixels", &pixels) ||
        (!info[4].IsUndefined() && !u32_arg(info, 4, "flags", &flags)) ||
        !ms_arg_to_ns(info, 5, "blockWaitMs", 1000, &block_wait_ns) ||
        !ms_arg_to_ns(info, 6, "firstBlockWaitMs", 0, &first_block_wait_ns)) {
      return env.Undefined();
    }
    const uint64_t frame_bytes = uint64_t{width} * height * kBytesPerPixel;
    if (pixels.ByteLength() != frame_bytes) {
      make_error(env, Status::kBadArgs,
                 "pixels hold " + std::to_string(pixels.ByteLength()) + " bytes, a " + std::to_string(width) + "x" +
                     std::to_string(height) + " RGB frame needs " + std::to_string(frame_bytes))
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    const Status status = side_->put_frame(frame_number, width, height, pixels.Data(), pixels.ByteLength(), flags,
                                           block_wait_ns, first_block_wait_ns);
    return status_result(env, status, "putting a frame");
  }
  // claim(frameNumber, width, height, offset, waitMs): status; on OK the block is in info.
  Napi::Value claim(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t frame_number = 0, width = 0, height = 0, offset = 0;
    int64_t wait_ns = 0;
    if (!open(env) || !u32_arg(info, 0, "frameNumber", &frame_number) || !u32_arg(info, 1, "width", &width) ||
        !u32_arg(info, 2, "height", &height) || !u32_arg(info, 3, "offset", &offset) ||
        !ms_arg_to_ns(info, 4, "waitMs", 0, &wait_ns)) {
      return env.Undefined();
    }
    Block block;
    const Status status = side_->claim(frame_number, width, height, offset, wait_ns, &block);
    if (status == Status::kOk) {
      info_.write(block);
      claimed_[block.buffer] = block;
    }
    return status_result(env, status, "claiming a buffer");
  }
  bool claimed_block(const Napi::CallbackInfo& info, Block* block) {
    uint32_t buffer = 0;
    if (!open(info.Env()) || !u32_arg(info, 0, "buffer", &buffer)) return false;
    if (buffer >= kBufferCount || !claimed_[buffer].pixels) {
      make_error(info.Env(), Status::kNotLocked, "buffer " + std::to_string(buffer) + " is not claimed")
          .ThrowAsJavaScriptException();
      return false;
    }
    *block = claimed_[buffer];
    return true;
  }
  // fillFrom(buffer, source, sourceOffset): the claimed block's rows from `source` (bytes from
  // `sourceOffset` on). The producer's one copy done natively, as fast in every runtime (Bun's
  // TypedArray.set into an external buffer runs at half the speed), and possible where zero-copy
  // views are refused.
  Napi::Value fill_from(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Block block;
    Napi::Uint8Array source;
    if (!claimed_block(info, &block) || !bytes_arg(info, 1, "source", &source)) return env.Undefined();
    double offset = 0;
    if (!info[2].IsUndefined()) {
      if (!info[2].IsNumber()) {
        Napi::TypeError::New(env, "sourceOffset must be a number").ThrowAsJavaScriptException();
        return env.Undefined();
      }
      offset = info[2].As<Napi::Number>().DoubleValue();
    }
    const bool in_range = offset >= 0 && offset <= static_cast<double>(source.ByteLength());
    if (!in_range || fill_block(block, source.Data(), source.ByteLength(), static_cast<uint64_t>(offset)) != Status::kOk) {
      make_error(env, Status::kBadArgs,
                 "fillFrom: the source has no " + std::to_string(block.header.block_bytes()) + " bytes at offset " +
                     std::to_string(offset))
          .ThrowAsJavaScriptException();
    }
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
    return views_.make(info.Env(), side_->mapping(), block, true);
  }
  Napi::Value payload_window(const Napi::CallbackInfo& info) {
    Block block;
    if (!claimed_block(info, &block)) return info.Env().Undefined();
    const uint64_t n = side_->layout().payload_size;
    return views_.window(info.Env(), side_->mapping(), block.buffer, block.pixels, static_cast<size_t>(n));
  }
  Napi::Value finish(const Napi::CallbackInfo& info, bool publish) {
    Block block;
    if (!claimed_block(info, &block)) return info.Env().Undefined();
    views_.detach(info.Env(), block.buffer);
    claimed_[block.buffer] = Block{};
    if (publish && side_->mapping()->truncated()) {
      side_->abandon(block);
      return status_result(info.Env(), Status::kBadFileSize, "the stream file was truncated");
    }
    publish ? side_->publish(block) : side_->abandon(block);
    return info.Env().Undefined();
  }
  Napi::Value publish(const Napi::CallbackInfo& info) { return finish(info, true); }
  Napi::Value abandon(const Napi::CallbackInfo& info) { return finish(info, false); }
  Napi::Value stats(const Napi::CallbackInfo& info) {
    if (!open(info.Env())) return info.Env().Undefined();
    const ProducerStats& s = side_->stats();
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("framesPublished", static_cast<double>(s.frames_published));
    out.Set("framesDropped", static_cast<double>(s.frames_dropped));
    out.Set("framesUnconnected", static_cast<double>(s.frames_unconnected));
    out.Set("blocksPublished", static_cast<double>(s.blocks_published));
    return out;
  }
  Napi::Value close(const Napi::CallbackInfo& info) {
    if (!side_) return info.Env().Undefined();
    views_.detach_all(info.Env());
    for (auto& block : claimed_) {
      if (block.pixels) side_->abandon(block);
      block = Block{};
    }
    delete side_;
    side_ = nullptr;
    return info.Env().Undefined();
  }

  ViewSet views_;
  InfoArray info_;
  Block claimed_[kBufferCount];
};

}  // namespace

Napi::Function define_producer_class(Napi::Env env) { return ProducerWrap::define(env); }

}  // namespace ensight::shmem::binding
