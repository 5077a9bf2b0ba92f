// Memory for the frame copies a consumer hands to code that may keep them (readFrame without a
// target: EnSightGRPC's onImage/images()/getImage()). Each copy needs memory of its own, and fresh
// memory per frame is what made those copies slow: a 6 MB allocation per 1080p frame is faulted in
// page by page, and Bun paid for that on most frames (~800 page faults a frame in the client's
// copying loop, Node ~80: glibc reuses what it freed). The pool lends blocks that were faulted in
// once and takes them back when the runtime collects the copy that used one, so a steady stream
// reuses the same few blocks.
//
// Plain C++ (no Node-API): the binding wraps a lent block in an external ArrayBuffer whose
// finalizer gives it back. Memory stays bounded: the blocks the pool owns, lent and free together,
// never pass its cap; past it, acquire() says no and the caller copies into ordinary memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace ensight::shmem {

class FramePool {
 public:
  struct Counts {
    size_t lent_blocks = 0;
    size_t free_blocks = 0;
    size_t owned_bytes = 0;  // lent + free, never above cap_bytes
    size_t cap_bytes = 0;    // for the block size last asked for (see min_blocks)
    uint64_t blocks_mapped = 0;    // blocks ever mapped (a reused block is not counted again)
    uint64_t lends_refused = 0;    // acquire() calls answered nullptr (cap reached, or no memory)
  };

  // `min_blocks`: the cap grows to that many blocks of the size asked for when they need more than
  // `cap_bytes` (large frames: blocks come back a few at a time, so a cap of two or three 4K frames
  // runs dry between collections). Still bounded: by `min_blocks` frames no larger than the file.
  explicit FramePool(size_t cap_bytes, size_t min_blocks = 0);
  ~FramePool();
  FramePool(const FramePool&) = delete;
  FramePool& operator=(const FramePool&) = delete;

  // A block of at least `bytes` for the caller alone until give_back(), or nullptr when lending
  // it would take the pool past its cap (or the system refused memory). *capacity receives the
  // block's size, to hand back with it. Free blocks of another size are unmapped first: a stream
  // changes frame size seldom, and a kept block of the old size would only hold memory.
  [[nodiscard]] uint8_t* acquire(size_t bytes, size_t* capacity);
  // Takes back a block acquire() lent; from any thread (a runtime may finalize off its JS thread).
  // After close() the block is unmapped instead.
  void give_back(uint8_t* block, size_t capacity);
  // Bytes given back since the last call (for the binding's external-memory accounting).
  [[nodiscard]] size_t take_returned_bytes();
  // At most `headroom` blocks are free (none while the pool grows): blocks lent earlier should
  // come back soon, or acquire() will have to map new ones or refuse.
  [[nodiscard]] bool running_low(size_t headroom) const;
  // The consumer is closed: free blocks are unmapped now, blocks still lent when they come back,
  // and acquire() lends nothing more.
  void close();
  [[nodiscard]] Counts counts() const;

 private:
  struct Free {
    uint8_t* block;
    size_t capacity;
  };
  void unmap(uint8_t* block, size_t capacity);

  [[nodiscard]] size_t cap_for(size_t block_bytes) const;

  const size_t cap_bytes_;
  const size_t min_blocks_;
  size_t last_cap_;  // cap_for() the last block size asked for, for counts()
  mutable std::mutex mutex_;  // guards everything below; held for list operations only, never for a copy
  std::vector<Free> free_;
  size_t lent_blocks_ = 0;
  size_t owned_bytes_ = 0;
  uint64_t blocks_mapped_ = 0;
  uint64_t lends_refused_ = 0;
  size_t returned_bytes_ = 0;
  bool closed_ = false;
};

// What a lent block's finalizer needs: the pool (kept alive until every block is back, even after
// the consumer that made it is closed) and the block.
struct LentBlock {
  std::shared_ptr<FramePool> pool;
  uint8_t* block;
  size_t capacity;
  // Gives the block back and deletes the record; the finalizer's only call.
  static void give_back(LentBlock* lent);
};

}  // namespace ensight::shmem
