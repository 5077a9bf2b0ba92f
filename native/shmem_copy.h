// The block copies the bindings offer on top of the handoff: a locked block out into a caller's
// buffer (as a block, or placed at its rows in a whole frame, optionally flipped), and a claimed
// block filled from a caller's buffer. Plain C++, no Node-API: the bindings only check types and
// turn a status into an error.
#pragma once

#include <cstdint>

#include "shmem_file.h"
#include "shmem_stream.h"

namespace ensight::shmem {

// Bytes a copy-out of `header` writes into its target: the whole frame when placing the rows in
// a frame image, else the block alone.
uint64_t copy_out_bytes(const BlockHeader& header, bool place_in_frame);

// Copies a held block (the consumer's lock) into `target` (`target_bytes` long). BAD_ARGS when
// the target is shorter than copy_out_bytes(); BAD_FILE_SIZE when the file was truncated while
// copying (the target then holds zeros where the rows were).
[[nodiscard]] Status copy_block_out(const Block& block, const Mapping& mapping, uint8_t* target, uint64_t target_bytes,
                                    bool flip, bool place_in_frame);

// Copies block_bytes() bytes of `source` from `source_offset` on into a held block (the
// producer's claim). BAD_ARGS when the source has fewer bytes there.
[[nodiscard]] Status fill_block(const Block& block, const uint8_t* source, uint64_t source_bytes, uint64_t source_offset);

}  // namespace ensight::shmem
