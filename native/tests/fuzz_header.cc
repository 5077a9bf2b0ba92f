// libFuzzer target over everything a hostile peer controls: the two 24-byte headers (geometry and
// buffer_state, pad included) of a real mapped stream file, then the consumer's attach, lock,
// snapshot, validation, copy-out and unlock, and the producer's claim of fuzzed geometry. Any
// block handed out must lie inside its own payload; copies go to exactly sized heap buffers so
// AddressSanitizer sees a single byte too many.
#include <cstdint>
#include <cstring>
#include <vector>

#include "../shmem_stream.h"

using namespace ensight::shmem;

namespace {

Mapping* stream_of(size_t which) {
  static Mapping* streams[2] = {nullptr, nullptr};
  static const uint64_t sizes[2] = {8192, kMinFileSize};
  if (!streams[which]) {
    FileError error;
    streams[which] = Mapping::create(CreateOptions{"", sizes[which]}, &error);
    if (!streams[which]) __builtin_trap();
    streams[which]->remove_file();  // the mapping stays; no file is left behind
  }
  return streams[which];
}

// A producer's claim lies in its own payload; a consumer's block in the payload of whichever
// reading it located header 1 at, which must lie inside the file and clear of header 0.
void require_inside_payload(Mapping* m, const Block& block) {
  const uint8_t* begin = m->payload(block.buffer);
  const uint8_t* end = begin + m->layout().payload_size;
  if (block.pixels < begin || block.pixels + block.header.block_bytes() > end) __builtin_trap();
}
void require_inside_file(Mapping* m, const Consumer& consumer, const Block& block) {
  const uint8_t* begin = m->base() + kHeaderSize;
  const uint8_t* end = m->base() + m->layout().file_size;
  if (block.pixels < begin || block.pixels + block.header.block_bytes() > end) __builtin_trap();
  if (block.header.block_bytes() > consumer.block_limit()) __builtin_trap();
}

uint32_t u32_at(const uint8_t* data, size_t size, size_t at) {
  uint32_t v = 0;
  if (at + 4 <= size) std::memcpy(&v, data + at, 4);
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  Mapping* m = stream_of(data[0] & 1);
  // Header 1 goes where either reading of the layout puts it (the other place is cleared), so the
  // consumer's search for it is fuzzed too.
  Layout reading;
  const Reading chosen = (data[0] & 2) ? Reading::kAligned64 : Reading::kPlain;
  uint8_t* header1 = m->header(1);
  if (layout_for_file_size(m->layout().file_size, chosen, &reading) == Status::kOk) {
    std::memset(m->header(1), 0, kHeaderSize);
    header1 = m->base() + reading.header_offset(1);
  }
  ++data;
  --size;
  uint8_t* headers[kBufferCount] = {m->header(0), header1};
  for (size_t i = 0; i < kBufferCount; ++i) {
    uint8_t header[kHeaderSize] = {};
    const size_t at = i * kHeaderSize;
    if (at < size) std::memcpy(header, data + at, size - at < kHeaderSize ? size - at : kHeaderSize);
    std::memcpy(headers[i], header, kHeaderSize);
  }

  Consumer consumer(m);
  consumer.attach();
  for (int attempt = 0; attempt < 3; ++attempt) {
    Block block;
    const Status st = consumer.try_lock(&block);
    if (st == Status::kNoFrameAvailable) break;
    if (st != Status::kOk) continue;
    require_inside_file(m, consumer, block);
    std::vector<uint8_t> copy(block.header.block_bytes());
    std::memcpy(copy.data(), block.pixels, copy.size());
    if (block.header.frame_bytes() <= (1u << 20)) {
      std::vector<uint8_t> frame(block.header.frame_bytes());
      place_block_rows(block.header, block.pixels, frame.data(), (data[size > 48 ? 48 : 0] & 1) != 0);
    }
    if (consumer.unlock(block.buffer) != Status::kOk) __builtin_trap();
  }

  // The producer side with fuzzed geometry: a claim it grants must fit in the payload too.
  if (header1 != m->header(1)) std::memset(header1, 0, kHeaderSize);
  Producer producer(m);
  producer.initialise();
  consumer.attach();
  Block claim;
  const uint32_t width = u32_at(data, size, 48) % 4096, height = u32_at(data, size, 52) % 4096;
  if (producer.claim(1, width, height, u32_at(data, size, 56) % 4096, 0, &claim) == Status::kOk) {
    require_inside_payload(m, claim);
    std::memset(claim.pixels, 0xAB, claim.header.block_bytes());
    producer.publish(claim);
  }
  return 0;
}
