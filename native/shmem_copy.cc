#include "shmem_copy.h"

#include <cstring>

namespace ensight::shmem {

uint64_t copy_out_bytes(const BlockHeader& header, bool place_in_frame) {
  return place_in_frame ? header.frame_bytes() : header.block_bytes();
}

Status copy_block_out(const Block& block, const Mapping& mapping, uint8_t* target, uint64_t target_bytes, bool flip,
                      bool place_in_frame) {
  if (target_bytes < copy_out_bytes(block.header, place_in_frame)) return Status::kBadArgs;
  if (place_in_frame) {
    place_block_rows(block.header, block.pixels, target, flip);
  } else if (flip) {
    BlockHeader rows_only = block.header;  // flip within the block: treat it as a frame of its own
    rows_only.offset = 0;
    rows_only.height = rows_only.num_scanlines;
    place_block_rows(rows_only, block.pixels, target, true);
  } else {
    std::memcpy(target, block.pixels, block.header.block_bytes());
  }
  // The SIGBUS guard turns a read of a truncated file into zeros; say so rather than hand them out.
  return mapping.truncated() ? Status::kBadFileSize : Status::kOk;
}

Status fill_block(const Block& block, const uint8_t* source, uint64_t source_bytes, uint64_t source_offset) {
  const uint64_t bytes = block.header.block_bytes();
  if (source_offset > source_bytes || source_bytes - source_offset < bytes) return Status::kBadArgs;
  std::memcpy(block.pixels, source + source_offset, bytes);
  return Status::kOk;
}

}  // namespace ensight::shmem
