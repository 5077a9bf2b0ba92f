// EnSight's shared-memory image layout: status vocabulary, geometry of the two buffers, and the
// validation that stands between a hostile peer's header bytes and any read of the mapping.
//
// Plain C++20, no Node-API: unit-tested, sanitized and fuzzed on its own.
//
//   [BufferHeader 0][payload 0: n bytes][BufferHeader 1][payload 1: n bytes]
//   BufferHeader (24 bytes, native byte order):
//     u32 frame_number, u32 width, u32 height, u32 offset, u32 num_scanlines, u8 buffer_state, u8 pad[3]
//
// What the published headers leave open, and how we read it (documented in src/shmem/mod.ts too):
// - The payload size n is not published. Two readings are in use: the plain C computation
//   n = (file_size - 2*24) / 2 (header 1 at 24 + n: exactly half of a 25 MiB file, 13,107,200),
//   and that n rounded down to a multiple of 64 (header 1 at 13,107,160). Our producer writes the
//   plain reading (what EnSight's own C most likely does); a consumer finds header 1 wherever the
//   server initialised it (Consumer::attach). A reading whose header 1 would put the 32-bit state
//   word off a 4-byte boundary is not used: the word is an atomic and a futex.
// - A frame whose width*height*3 bytes exceed n travels as scanline blocks with the same
//   frame_number, width and height, `offset` = first scanline of the block, `num_scanlines` =
//   rows in it. Our producer sends them in order from offset 0, each at most floor(n / (width*3))
//   rows (3840x2160 RGB: 1137 + 1023 rows); a consumer accepts them in any order.
// - Pixels are RGB, 3 bytes, rows packed; a row wider than n cannot travel (FRAME_TOO_LARGE).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ensight::shmem {

// The reference C API's status codes, so callers in any language see one vocabulary.
enum class Status : int32_t {
  kUnconnected = 4,
  kReconnecting = 3,
  kNoFrameAvailable = 2,
  kNoBufferAvailable = 1,
  kOk = 0,
  kBadArgs = -1,
  kNotLocked = -2,
  kBadFileSize = -3,
  kUnableToOpenFile = -4,
  kUnableToMapFile = -5,
  kMemoryAllocError = -6,
  kThreadCreateError = -7,
  kIsServer = -8,
  kIsNotServer = -9,
  kFrameTooLarge = -10,
  kLocked = -11,
};

// The statuses run without gaps from kUnconnected down to kLocked (the addon lists them so).
static_assert(static_cast<int>(Status::kUnconnected) - static_cast<int>(Status::kLocked) == 15);

// "BAD_FILE_SIZE" etc.: the names the JS API uses as ShmemError.code.
const char* status_name(Status status);

enum BufferState : uint8_t {
  kServerOwns = 0,
  kServerWriting = 1,
  kWritten = 2,  // owned by the client, not yet locked
  kClientLocked = 3,
  kInitial = 4,  // the server initialised the buffer; no client attached yet
};

// The BufferHeader as Ansys' header declares it (spec: "Shared-memory image transport"). Never
// accessed through this type: the mapping is shared with a peer that may write at any time, so
// every access is an atomic on one field (shmem_handoff.h). It exists to pin the offsets those
// accesses use to the published declaration.
struct WireHeader {
  uint32_t frame_number;
  uint32_t width;          // of the entire frame, pixels
  uint32_t height;         // of the entire frame, pixels
  uint32_t offset;         // first scanline of this block
  uint32_t num_scanlines;  // scanlines in this payload
  uint8_t buffer_state;
  uint8_t pad[3];
};

inline constexpr size_t kHeaderSize = 24;
inline constexpr size_t kStateOffset = 20;  // of buffer_state (and its 32-bit futex word) in a header
// The five u32 geometry fields come first, buffer_state right after them, three pad bytes last:
// no padding anywhere, so the C declaration and our offsets agree on every ABI we build for.
static_assert(sizeof(WireHeader) == kHeaderSize, "BufferHeader is 24 bytes");
static_assert(alignof(WireHeader) == alignof(uint32_t), "headers are 4-aligned");
static_assert(offsetof(WireHeader, frame_number) == 0);
static_assert(offsetof(WireHeader, width) == 4);
static_assert(offsetof(WireHeader, height) == 8);
static_assert(offsetof(WireHeader, offset) == 12);
static_assert(offsetof(WireHeader, num_scanlines) == 16);
static_assert(offsetof(WireHeader, buffer_state) == kStateOffset, "buffer_state follows the five u32 fields");
static_assert(offsetof(WireHeader, pad) == kStateOffset + 1, "three pad bytes end the header");
static_assert(kStateOffset == 5 * sizeof(uint32_t), "buffer_state follows the five u32 fields");
static_assert(kHeaderSize == kStateOffset + sizeof(uint32_t), "u8 buffer_state + u8 pad[3] end the header");
static_assert(kStateOffset % alignof(uint32_t) == 0, "the state word is 4-aligned inside a header");
inline constexpr size_t kBufferCount = 2;
inline constexpr size_t kPayloadAlign = 64;
inline constexpr size_t kBytesPerPixel = 3;
inline constexpr uint64_t kDefaultFileSize = 26'214'400;
// Smallest file with a payload of one alignment unit per buffer.
inline constexpr uint64_t kMinFileSize = kBufferCount * (kHeaderSize + kPayloadAlign);
// u32 header fields cannot address more; larger files are refused rather than half used.
inline constexpr uint64_t kMaxFileSize = uint64_t{1} << 32;
inline constexpr uint32_t kFlipVertical = 0x100;

// How n is derived from the file size (see the file comment).
enum class Reading : uint8_t {
  kPlain = 0,      // n = (size - 48) / 2
  kAligned64 = 1,  // that, rounded down to a multiple of 64 (our reading before EnSight's headers)
};
inline constexpr size_t kReadingCount = 2;
const char* reading_name(Reading reading);  // "plain", "aligned64"

constexpr uint64_t payload_size_for(uint64_t file_size, Reading reading) {
  const uint64_t plain = (file_size - kBufferCount * kHeaderSize) / kBufferCount;
  return reading == Reading::kPlain ? plain : plain / kPayloadAlign * kPayloadAlign;
}
// Pinned against the spec: header 1 of the default file sits at exactly half of it (plain), or
// 40 bytes before (aligned), and both keep the state word 4-aligned.
static_assert(payload_size_for(kDefaultFileSize, Reading::kPlain) == 13'107'176);
static_assert(kHeaderSize + payload_size_for(kDefaultFileSize, Reading::kPlain) == kDefaultFileSize / 2);
static_assert(payload_size_for(kDefaultFileSize, Reading::kAligned64) == 13'107'136);
static_assert((kHeaderSize + payload_size_for(kDefaultFileSize, Reading::kPlain) + kStateOffset) % 4 == 0);
static_assert((kHeaderSize + payload_size_for(kDefaultFileSize, Reading::kAligned64) + kStateOffset) % 4 == 0);

struct Layout {
  uint64_t file_size = 0;
  uint64_t payload_size = 0;  // n
  Reading reading = Reading::kPlain;

  uint64_t header_offset(size_t buffer) const { return buffer * (kHeaderSize + payload_size); }
  uint64_t payload_offset(size_t buffer) const { return header_offset(buffer) + kHeaderSize; }
  uint64_t state_offset(size_t buffer) const { return header_offset(buffer) + kStateOffset; }
};

// n for one reading; BAD_FILE_SIZE when the file cannot hold two buffers, BAD_ARGS when this
// reading would put header 1's state word off a 4-byte boundary (the reading is unusable for it).
[[nodiscard]] Status layout_for_file_size(uint64_t file_size, Reading reading, Layout* out);
// The layout a producer of ours writes: the plain reading where usable, else the aligned one.
[[nodiscard]] Status layout_for_file_size(uint64_t file_size, Layout* out);

// A snapshot of a header's geometry fields, copied out of shared memory once. Everything after the
// copy works on the snapshot, so a peer rewriting the header afterwards changes nothing we use.
struct BlockHeader {
  uint32_t frame_number = 0;
  uint32_t width = 0;
  uint32_t height = 0;
  uint32_t offset = 0;         // first scanline of this block
  uint32_t num_scanlines = 0;  // rows carried in this payload

  uint64_t row_bytes() const { return uint64_t{width} * kBytesPerPixel; }
  uint64_t block_bytes() const { return row_bytes() * num_scanlines; }
  uint64_t frame_bytes() const { return row_bytes() * height; }
  bool is_whole_frame() const { return offset == 0 && num_scanlines == height; }
  bool is_last_block() const { return uint64_t{offset} + num_scanlines == height; }
};

// The single gate in front of every payload read or write: OK only when the block lies inside one
// payload of this layout. BAD_ARGS for inconsistent geometry (zero sizes, rows past the frame),
// FRAME_TOO_LARGE for a block or row larger than n. All arithmetic is 64-bit: u32 products of
// hostile values cannot wrap.
[[nodiscard]] Status validate_block(const BlockHeader& header, const Layout& layout);

// Rows per block for a frame of this size: min(height, n / (width*3)). FRAME_TOO_LARGE when one row
// does not fit, BAD_ARGS for a zero dimension.
[[nodiscard]] Status rows_per_block(uint32_t width, uint32_t height, const Layout& layout, uint32_t* rows);

// Serial-number order for u32 frame numbers ("increases; may skip", and may wrap).
inline bool frame_before(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }

// (frame_number, offset) order of blocks: the order the producer fills and the consumer drains.
inline bool block_before(const BlockHeader& a, const BlockHeader& b) {
  if (a.frame_number != b.frame_number) return frame_before(a.frame_number, b.frame_number);
  return a.offset < b.offset;
}

// Copies rows of a block to their place in a whole-frame image (`frame` of width*height*3
// bytes), flipped top-to-bottom when `flip` is set. The caller validated `header`.
void place_block_rows(const BlockHeader& header, const uint8_t* block, uint8_t* frame, bool flip);

// Copies a frame's rows [offset, offset+rows) from a whole-frame image into a block payload,
// taking them bottom-up when `flip` is set.
void take_block_rows(uint32_t width, uint32_t height, uint32_t offset, uint32_t rows,
                     const uint8_t* frame, uint8_t* block, bool flip);

}  // namespace ensight::shmem
