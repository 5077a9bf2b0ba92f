#include "frame_pool.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

namespace ensight::shmem {
namespace {

size_t page_rounded(size_t bytes) {
  static const size_t page = [] {
    const long size = sysconf(_SC_PAGESIZE);
    return size > 0 ? static_cast<size_t>(size) : size_t{4096};
  }();
  return (bytes + page - 1) / page * page;
}

}  // namespace

FramePool::FramePool(size_t cap_bytes, size_t min_blocks)
    : cap_bytes_(cap_bytes), min_blocks_(min_blocks), last_cap_(cap_bytes) {}

size_t FramePool::cap_for(size_t block_bytes) const {
  const size_t floor = block_bytes != 0 && min_blocks_ <= SIZE_MAX / block_bytes ? min_blocks_ * block_bytes : SIZE_MAX;
  return floor > cap_bytes_ ? floor : cap_bytes_;
}

FramePool::~FramePool() {
  // Every lent block holds a reference to the pool: none is out when this runs.
  for (const Free& f : free_) unmap(f.block, f.capacity);
}

uint8_t* FramePool::acquire(size_t bytes, size_t* capacity) {
  const size_t wanted = page_rounded(bytes == 0 ? 1 : bytes);
  std::vector<Free> stale;  // unmapped outside the lock
  bool reserved = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) {
      ++lends_refused_;
      return nullptr;
    }
    for (size_t i = free_.size(); i-- > 0;) {
      if (free_[i].capacity != wanted) continue;
      uint8_t* block = free_[i].block;
      free_[i] = free_.back();
      free_.pop_back();
      ++lent_blocks_;
      *capacity = wanted;
      return block;
    }
    // Only blocks of the wanted size are worth keeping: the others go before a new one is mapped.
    stale.swap(free_);
    for (const Free& f : stale) owned_bytes_ -= f.capacity;
    const size_t cap = last_cap_ = cap_for(wanted);
    if (wanted > cap || owned_bytes_ > cap - wanted) {
      ++lends_refused_;
    } else {
      owned_bytes_ += wanted;  // reserved before mapping: two acquires cannot both pass the cap
      ++lent_blocks_;
      reserved = true;
    }
  }
  for (const Free& f : stale) unmap(f.block, f.capacity);
  if (!reserved) return nullptr;
  void* block = mmap(nullptr, wanted, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  std::lock_guard<std::mutex> lock(mutex_);
  if (block == MAP_FAILED) {
    owned_bytes_ -= wanted;
    --lent_blocks_;
    ++lends_refused_;
    return nullptr;
  }
  ++blocks_mapped_;
  *capacity = wanted;
  return static_cast<uint8_t*>(block);
}

void FramePool::give_back(uint8_t* block, size_t capacity) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    --lent_blocks_;
    returned_bytes_ += capacity;
    if (!closed_) {
      free_.push_back(Free{block, capacity});
      return;
    }
    owned_bytes_ -= capacity;
  }
  unmap(block, capacity);
}

size_t FramePool::take_returned_bytes() {
  std::lock_guard<std::mutex> lock(mutex_);
  const size_t bytes = returned_bytes_;
  returned_bytes_ = 0;
  return bytes;
}

bool FramePool::running_low(size_t headroom) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return free_.size() <= headroom;
}

void FramePool::close() {
  std::vector<Free> stale;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    stale.swap(free_);
    for (const Free& f : stale) owned_bytes_ -= f.capacity;
  }
  for (const Free& f : stale) unmap(f.block, f.capacity);
}

FramePool::Counts FramePool::counts() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return Counts{lent_blocks_, free_.size(), owned_bytes_, last_cap_, blocks_mapped_, lends_refused_};
}

void FramePool::unmap(uint8_t* block, size_t capacity) { munmap(block, capacity); }

void LentBlock::give_back(LentBlock* lent) {
  lent->pool->give_back(lent->block, lent->capacity);
  delete lent;
}

}  // namespace ensight::shmem
