// The test frames: every byte a function of (frame number, byte index), so a reader can check each
// byte it gets and a block holding rows of two different frames (a torn frame) cannot pass.
#pragma once

#include <cstdint>
#include <vector>

namespace pattern {

inline uint8_t byte_at(uint32_t frame, uint64_t index) {
  uint64_t x = (uint64_t{frame} << 32) ^ (index * 0x9E3779B97F4A7C15ull);
  x ^= x >> 29;
  return static_cast<uint8_t>((x * 0xBF58476D1CE4E5B9ull) >> 56);
}

inline void fill(uint32_t frame, std::vector<uint8_t>& pixels) {
  for (uint64_t i = 0; i < pixels.size(); ++i) pixels[i] = byte_at(frame, i);
}

// Checks `bytes` bytes of a block whose first byte is frame byte `first`.
inline bool matches(uint32_t frame, uint64_t first, const uint8_t* block, uint64_t bytes) {
  for (uint64_t i = 0; i < bytes; ++i)
    if (block[i] != byte_at(frame, first + i)) return false;
  return true;
}

}  // namespace pattern
