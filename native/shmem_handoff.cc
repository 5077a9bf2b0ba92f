#include "shmem_handoff.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

namespace ensight::shmem {

namespace {
// Field offsets of the u32 geometry fields in a header (pinned in shmem_layout.h).
constexpr size_t kFrameNumber = offsetof(WireHeader, frame_number), kWidth = offsetof(WireHeader, width),
                 kHeight = offsetof(WireHeader, height), kOffset = offsetof(WireHeader, offset),
                 kNumScanlines = offsetof(WireHeader, num_scanlines);

uint32_t load_field(const uint8_t* header, size_t at) {
  return std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(const_cast<uint8_t*>(header + at)))
      .load(std::memory_order_relaxed);
}
void store_field(uint8_t* header, size_t at, uint32_t value) {
  std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(header + at)).store(value, std::memory_order_relaxed);
}
}  // namespace

BlockHeader load_header(const uint8_t* header) {
  return BlockHeader{load_field(header, kFrameNumber), load_field(header, kWidth), load_field(header, kHeight),
                     load_field(header, kOffset), load_field(header, kNumScanlines)};
}

void store_header(uint8_t* header, const BlockHeader& g) {
  store_field(header, kFrameNumber, g.frame_number);
  store_field(header, kWidth, g.width);
  store_field(header, kHeight, g.height);
  store_field(header, kOffset, g.offset);
  store_field(header, kNumScanlines, g.num_scanlines);
}

int futex_wait_shared(uint32_t* word, uint32_t expected, int64_t timeout_ns) {
  if (timeout_ns < 0) timeout_ns = 0;
  struct timespec timeout {
    static_cast<time_t>(timeout_ns / 1'000'000'000), static_cast<long>(timeout_ns % 1'000'000'000)
  };
  // FUTEX_WAIT, not FUTEX_WAIT_PRIVATE: the waker may be another process.
  if (syscall(SYS_futex, word, FUTEX_WAIT, expected, &timeout, nullptr, 0) == 0) return 0;
  return errno;
}

void futex_wake_shared(uint32_t* word) { syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0); }

int64_t monotonic_now_ns() {
  struct timespec now {};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

}  // namespace ensight::shmem
