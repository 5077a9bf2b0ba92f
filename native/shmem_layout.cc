#include "shmem_layout.h"

#include <cstring>

namespace ensight::shmem {

const char* status_name(Status status) {
  switch (status) {
    case Status::kUnconnected: return "UNCONNECTED";
    case Status::kReconnecting: return "RECONNECTING";
    case Status::kNoFrameAvailable: return "NO_FRAMEAVAILABLE";
    case Status::kNoBufferAvailable: return "NO_BUFFERAVAILABLE";
    case Status::kOk: return "NOERROR";
    case Status::kBadArgs: return "BAD_ARGS";
    case Status::kNotLocked: return "NOT_LOCKED";
    case Status::kBadFileSize: return "BAD_FILE_SIZE";
    case Status::kUnableToOpenFile: return "UNABLE_TO_OPEN_FILE";
    case Status::kUnableToMapFile: return "UNABLE_TO_MAP_FILE";
    case Status::kMemoryAllocError: return "MEMORY_ALLOC_ERROR";
    case Status::kThreadCreateError: return "THREAD_CREATE_ERROR";
    case Status::kIsServer: return "IS_SERVER";
    case Status::kIsNotServer: return "IS_NOTSERVER";
    case Status::kFrameTooLarge: return "FRAME_TOO_LARGE";
    case Status::kLocked: return "LOCKED";
  }
  return "BAD_ARGS";
}

const char* reading_name(Reading reading) { return reading == Reading::kPlain ? "plain" : "aligned64"; }

Status layout_for_file_size(uint64_t file_size, Reading reading, Layout* out) {
  if (file_size < kMinFileSize || file_size > kMaxFileSize) return Status::kBadFileSize;
  const Layout layout{file_size, payload_size_for(file_size, reading), reading};
  if (layout.state_offset(1) % alignof(uint32_t) != 0) return Status::kBadArgs;
  *out = layout;
  return Status::kOk;
}

Status layout_for_file_size(uint64_t file_size, Layout* out) {
  if (const Status st = layout_for_file_size(file_size, Reading::kPlain, out); st != Status::kBadArgs) return st;
  return layout_for_file_size(file_size, Reading::kAligned64, out);
}

Status validate_block(const BlockHeader& h, const Layout& layout) {
  if (h.width == 0 || h.height == 0 || h.num_scanlines == 0) return Status::kBadArgs;
  if (uint64_t{h.offset} + h.num_scanlines > h.height) return Status::kBadArgs;
  if (h.row_bytes() > layout.payload_size) return Status::kFrameTooLarge;
  if (h.block_bytes() > layout.payload_size) return Status::kFrameTooLarge;
  return Status::kOk;
}

Status rows_per_block(uint32_t width, uint32_t height, const Layout& layout, uint32_t* rows) {
  if (width == 0 || height == 0) return Status::kBadArgs;
  const uint64_t row_bytes = uint64_t{width} * kBytesPerPixel;
  if (row_bytes > layout.payload_size) return Status::kFrameTooLarge;
  const uint64_t fit = layout.payload_size / row_bytes;
  *rows = static_cast<uint32_t>(fit < height ? fit : height);
  return Status::kOk;
}

void place_block_rows(const BlockHeader& h, const uint8_t* block, uint8_t* frame, bool flip) {
  const uint64_t row = h.row_bytes();
  if (!flip) {
    std::memcpy(frame + uint64_t{h.offset} * row, block, h.block_bytes());
    return;
  }
  for (uint32_t r = 0; r < h.num_scanlines; ++r) {
    const uint64_t frame_row = uint64_t{h.height} - 1 - (uint64_t{h.offset} + r);
    std::memcpy(frame + frame_row * row, block + uint64_t{r} * row, row);
  }
}

void take_block_rows(uint32_t width, uint32_t height, uint32_t offset, uint32_t rows, const uint8_t* frame,
                     uint8_t* block, bool flip) {
  const uint64_t row = uint64_t{width} * kBytesPerPixel;
  if (!flip) {
    std::memcpy(block, frame + uint64_t{offset} * row, row * rows);
    return;
  }
  for (uint32_t r = 0; r < rows; ++r) {
    const uint64_t frame_row = uint64_t{height} - 1 - (uint64_t{offset} + r);
    std::memcpy(block + uint64_t{r} * row, frame + frame_row * row, row);
  }
}

}  // namespace ensight::shmem
