// How the bindings hand a held block to JavaScript: views of the mapping (revocable, or one
// window per buffer), or copies where the runtime refuses external buffers; and the Uint32Array a
// lock or claim reports the block's geometry through, so a frame costs no object creation here.
#pragma once

#include <memory>
#include <vector>

#include <napi.h>

#include "frame_pool.h"
#include "shmem_file.h"
#include "shmem_stream.h"

namespace ensight::shmem::binding {

// Slots of the info Uint32Array both classes report a block through (exported as `infoSlots`;
// src/shmem/native.ts INFO holds the same numbers).
enum InfoSlot { kInfoBuffer, kInfoFrameNumber, kInfoWidth, kInfoHeight, kInfoOffset, kInfoNumScanlines, kInfoEpoch, kInfoSlots };
static_assert(kInfoSlots == 7, "the messages and src/shmem/native.ts INFO say 7 slots");

// Views handed out per buffer, as weak references: unlock/publish detaches the ones still alive.
// Each external view holds a reference on the Mapping (released by its finalizer), so memory a view
// points at stays mapped until the runtime has dropped the view, whatever the order of close and GC.
class ViewSet {
 public:
  // A Uint8Array of the block: an external view when `zero_copy` and the runtime allow, else a copy.
  Napi::Value make(Napi::Env env, Mapping* mapping, const Block& block, bool zero_copy);
  // A view of a buffer's whole payload window (`length` bytes from `base`), made once per buffer of
  // the mapping and kept (strong reference) until close: per frame, JavaScript only makes a
  // Uint8Array over it. Not detached at unlock: the caller's contract is that it reads a block's
  // bytes only while the block is held (the mapping itself stays mapped while the view lives, so a
  // late read sees other frames' pixels, never unmapped memory). undefined where external buffers
  // are refused: the caller falls back to make().
  Napi::Value window(Napi::Env env, Mapping* mapping, int buffer, uint8_t* base, size_t length);
  // Detaches the revocable views of one buffer (at unlock or publish).
  void detach(napi_env env, int buffer);
  // Detaches everything, windows too (close).
  void detach_all(napi_env env);
  // Without detaching (finalizer during teardown): drop the references, views keep the mapping alive.
  void forget(napi_env env);

 private:
  struct Window {
    napi_ref ref = nullptr;
    uint8_t* base = nullptr;
    size_t length = 0;
  };
  void drop_window(napi_env env, int buffer, bool detach_it);
  static void release_mapping(napi_env, void*, void* hint);
  std::vector<napi_ref> refs_[kBufferCount];
  Window windows_[kBufferCount];
};

// Lends a consumer's frame pool's blocks to JavaScript, each as the memory of one Uint8Array that
// gives it back when the runtime collects the array: memory of the caller's alone, as a fresh copy
// would be, but reused from frame to frame.
class FrameLender {
 public:
  // Before the first lend: the most bytes the pool may own (0: lend nothing, copies go to plain
  // memory), raised to `min_blocks` blocks of the frame size asked for (see FramePool).
  void set_cap(size_t cap_bytes, size_t min_blocks) { pool_ = std::make_shared<FramePool>(cap_bytes, min_blocks); }
  // A Uint8Array of `bytes`, or undefined when the pool is at its cap or the runtime refuses
  // external buffers (a V8 sandbox): the caller then copies into memory of its own.
  Napi::Value lend(Napi::Env env, size_t bytes);
  // No more lending; blocks still lent are unmapped as they come back. `env_alive`: false from a
  // finalizer at teardown, when nothing may be reported to the runtime.
  void close(Napi::Env env, bool env_alive);
  [[nodiscard]] FramePool::Counts counts() const { return pool_->counts(); }

 private:
  // Shared with every lent block's finalizer record, so it outlives this object until all are back.
  std::shared_ptr<FramePool> pool_ = std::make_shared<FramePool>(0);
  // Bytes of blocks lent and not known to be back, and how many of them the runtime was told of as
  // external memory. The GC learns of a lent block only through this (its ArrayBuffer's memory is
  // not the engine's own): without it, Bun collected the dropped copies too late for the pool to
  // lend again. Told when the pool runs dry, not every lend (see lend()). JS thread only.
  int64_t outstanding_ = 0;
  int64_t reported_ = 0;
};

class InfoArray {
 public:
  // Holds on to options.info; throws BAD_ARGS (false) unless it is a Uint32Array of kInfoSlots.
  bool bind(Napi::Env env, Napi::Value value);
  void write(const Block& block, uint32_t epoch = 0);

 private:
  Napi::ObjectReference ref_;  // keeps the array (and so slots_) alive
  uint32_t* slots_ = nullptr;
};

}  // namespace ensight::shmem::binding
