// Stress test of the handoff: a producer and a consumer, as two threads or two processes, move
// frames of random sizes (many of them in two scanline blocks) through a small file while the
// consumer stalls at random. Every byte of every block is checked against the frame it claims to
// be; the test fails on a single torn block, on complete frames whose numbers do not strictly
// increase, or on blocks out of (frame, offset) order.
//
//   stress_test threads|processes FRAMES [FILE_SIZE] [silent]
//
// `silent`: the producer never wakes the consumer (as EnSight's reference server may not), so
// every wait ends by looking again: the consumer's prediction of frames runs throughout.
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../shmem_stream.h"
#include "pattern.h"

using namespace ensight::shmem;

namespace {

constexpr int64_t kBlockWaitNs = 2'000'000'000;
constexpr int64_t kConsumerPatienceNs = 20'000'000'000;

struct Geometry {
  uint32_t width, height;
};
Geometry geometry_for(uint32_t frame) {
  const uint32_t h = static_cast<uint32_t>(frame * 2654435761u);
  return {1 + (h >> 8) % 48, 1 + (h >> 20) % 48};
}

void sleep_us(uint32_t us) {
  struct timespec ts {0, static_cast<long>(us) * 1000};
  nanosleep(&ts, nullptr);
}

struct Shared {
  std::atomic<int> done{0};
  std::atomic<uint64_t> offered{0}, published{0}, dropped{0};
};

void produce(Mapping* mapping, Shared* shared, bool silent) {
  Producer producer(mapping);
  producer.set_wakes(!silent);
  producer.initialise();
  std::vector<uint8_t> pixels;
  for (uint32_t frame = 1; !shared->done.load(std::memory_order_acquire); ++frame) {
    const Geometry g = geometry_for(frame);
    pixels.resize(uint64_t{g.width} * g.height * kBytesPerPixel);
    pattern::fill(frame, pixels);
    shared->offered.fetch_add(1, std::memory_order_relaxed);
    const Status st = producer.put_frame(frame, g.width, g.height, pixels.data(), pixels.size(), 0, kBlockWaitNs);
    if (st == Status::kOk) shared->published.fetch_add(1, std::memory_order_relaxed);
    if (st == Status::kNoBufferAvailable) {
      shared->dropped.fetch_add(1, std::memory_order_relaxed);
      sleep_us(20);  // a real producer renders the next frame meanwhile
    }
    if (st == Status::kUnconnected) sleep_us(100);
  }
}

struct Verdict {
  uint64_t complete = 0, incomplete = 0, torn = 0, out_of_order = 0, blocks = 0, timeouts = 0;
};

Verdict consume(Mapping* mapping, Shared* shared, uint64_t target) {
  Consumer consumer(mapping);
  std::mt19937 rng(12345);
  Verdict v;
  bool have_previous = false, assembling = false, have_complete = false;
  BlockHeader previous{};
  uint32_t assembling_frame = 0, next_offset = 0, last_complete = 0;
  while (v.complete < target) {
    Block block;
    const Status st = consumer.wait_lock(monotonic_now_ns() + kConsumerPatienceNs, &block);
    if (st != Status::kOk) {
      std::fprintf(stderr, "wait_lock: %s\n", status_name(st));
      ++v.timeouts;
      break;
    }
    const BlockHeader& h = block.header;
    ++v.blocks;
    const Geometry g = geometry_for(h.frame_number);
    const bool geometry_ok = h.width == g.width && h.height == g.height;
    if (!geometry_ok || !pattern::matches(h.frame_number, uint64_t{h.offset} * h.row_bytes(), block.pixels, h.block_bytes()))
      ++v.torn;
    if (have_previous && !block_before(previous, h)) {
      if (++v.out_of_order <= 10)
        std::fprintf(stderr, "out of order: block (%u, %u) after (%u, %u)\n", h.frame_number, h.offset,
                     previous.frame_number, previous.offset);
    }
    previous = h;
    have_previous = true;
    if (h.offset == 0) {
      if (assembling) ++v.incomplete;
      assembling = true;
      assembling_frame = h.frame_number;
      next_offset = h.num_scanlines;
    } else if (assembling && h.frame_number == assembling_frame && h.offset == next_offset) {
      next_offset += h.num_scanlines;
    } else {
      ++v.incomplete;
      assembling = false;
    }
    if (assembling && next_offset == h.height) {
      if (have_complete && !frame_before(last_complete, h.frame_number)) {
        if (++v.out_of_order <= 10)
          std::fprintf(stderr, "out of order: frame %u completed after %u\n", h.frame_number, last_complete);
      }
      last_complete = h.frame_number;
      have_complete = true;
      assembling = false;
      ++v.complete;
    }
    if (rng() % 64 == 0) sleep_us(rng() % 300);  // stall holding the lock
    static_cast<void>(consumer.unlock(block.buffer));  // locked just above: cannot fail
    if (rng() % 64 == 0) sleep_us(rng() % 300);  // stall between frames
  }
  shared->done.store(1, std::memory_order_release);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s threads|processes FRAMES [FILE_SIZE] [silent]\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  const uint64_t target = std::strtoull(argv[2], nullptr, 10);
  const uint64_t size = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 8192;
  const bool silent = argc > 4 && std::string(argv[4]) == "silent";
  FileError error;
  Mapping* mapping = Mapping::create(CreateOptions{"", size}, &error);
  if (!mapping) {
    std::fprintf(stderr, "create: %s errno %d\n", status_name(error.status), error.sys_errno);
    return 1;
  }
  void* page = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  auto* shared = new (page) Shared();
  const int64_t start = monotonic_now_ns();
  Verdict v;
  if (mode == "threads") {
    std::thread producer(produce, mapping, shared, silent);
    v = consume(mapping, shared, target);
    producer.join();
  } else {
    const pid_t child = fork();
    if (child == 0) {
      // The producer maps the file by name, as EnSight would.
      Mapping* own = Mapping::open(mapping->path(), &error);
      if (!own) _exit(3);
      produce(own, shared, silent);
      own->release();
      _exit(0);
    }
    v = consume(mapping, shared, target);
    int wstatus = 0;
    waitpid(child, &wstatus, 0);
    if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) ++v.timeouts;
  }
  const double seconds = (monotonic_now_ns() - start) / 1e9;
  mapping->remove_file();
  mapping->release();
  std::printf("%s%s: %llu complete frames verified, %llu blocks, %llu incomplete, %llu torn, %llu out of order; "
              "producer offered %llu, published %llu, dropped %llu; %.1f s\n",
              mode.c_str(), silent ? " (silent producer)" : "", (unsigned long long)v.complete, (unsigned long long)v.blocks,
              (unsigned long long)v.incomplete, (unsigned long long)v.torn, (unsigned long long)v.out_of_order,
              (unsigned long long)shared->offered.load(), (unsigned long long)shared->published.load(),
              (unsigned long long)shared->dropped.load(), seconds);
  const bool ok = v.complete >= target && v.torn == 0 && v.out_of_order == 0 && v.timeouts == 0;
  std::printf("stress %s: %d passed, %d failed\n", mode.c_str(), ok ? 1 : 0, ok ? 0 : 1);
  return ok ? 0 : 1;
}
