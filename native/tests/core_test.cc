// Unit tests of the core: layout arithmetic, validation, file creation rules, the handoff, blocks,
// hostile headers and truncation.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>
#include <thread>
#include <chrono>

#include "../shmem_stream.h"
#include "check.h"
#include "pattern.h"

using namespace ensight::shmem;

namespace {

struct MappingRef {
  Mapping* m;
  explicit MappingRef(Mapping* mapping) : m(mapping) {}
  MappingRef(MappingRef&& other) noexcept : m(other.m) { other.m = nullptr; }
  MappingRef(const MappingRef&) = delete;
  ~MappingRef() {
    if (m) {
      m->remove_file();
      m->release();
    }
  }
  Mapping* operator->() const { return m; }
};

MappingRef make_stream(uint64_t size = kDefaultFileSize) {
  FileError error;
  Mapping* m = Mapping::create(CreateOptions{"", size}, &error);
  CHECK(m != nullptr);
  return MappingRef{m};
}

// A stream with a producer that initialised it and a consumer that attached.
struct Connected {
  MappingRef m;
  Producer producer;
  Consumer consumer;
  explicit Connected(uint64_t size) : m(make_stream(size)), producer(m.m), consumer(m.m) {
    producer.initialise();
    consumer.attach();
  }
};

uint8_t state_at(Mapping* m, size_t buffer) { return state_of(StateWord(m->header(buffer)).load()); }

}  // namespace

TEST_CASE("the default 25 MiB file: plain n = 13,107,176 (header 1 at half the file), aligned n = 13,107,136") {
  Layout layout;
  CHECK(layout_for_file_size(kDefaultFileSize, &layout) == Status::kOk);
  CHECK(layout.reading == Reading::kPlain);
  CHECK_EQ(layout.payload_size, 13'107'176u);
  CHECK_EQ(layout.header_offset(1), 13'107'200u);
  CHECK_EQ(layout.state_offset(1) % 4, 0u);
  CHECK(layout.header_offset(1) + kHeaderSize + layout.payload_size <= kDefaultFileSize);
  CHECK(layout_for_file_size(kDefaultFileSize, Reading::kAligned64, &layout) == Status::kOk);
  CHECK_EQ(layout.payload_size, 13'107'136u);
  CHECK_EQ(layout.header_offset(1), 13'107'160u);
  CHECK_EQ(layout.state_offset(1) % 4, 0u);
}

TEST_CASE("a size whose plain header 1 would put the state word off 4 bytes uses the aligned reading") {
  Layout layout;
  CHECK(layout_for_file_size(8194, Reading::kPlain, &layout) == Status::kBadArgs);  // n = 4073
  CHECK(layout_for_file_size(8194, &layout) == Status::kOk);
  CHECK(layout.reading == Reading::kAligned64 && layout.payload_size == 4032);
}

TEST_CASE("files too small or too large for the layout are BAD_FILE_SIZE") {
  Layout layout;
  CHECK(layout_for_file_size(0, &layout) == Status::kBadFileSize);
  CHECK(layout_for_file_size(kMinFileSize - 1, &layout) == Status::kBadFileSize);
  CHECK(layout_for_file_size(kMinFileSize, &layout) == Status::kOk);
  CHECK_EQ(layout.payload_size, kPayloadAlign);
  CHECK(layout_for_file_size(kMaxFileSize + 1, &layout) == Status::kBadFileSize);
}

TEST_CASE("3840x2160 RGB travels in two blocks through the default file; 1080p in one") {
  Layout layout;
  CHECK(layout_for_file_size(kDefaultFileSize, &layout) == Status::kOk);
  uint32_t rows = 0;
  CHECK(rows_per_block(3840, 2160, layout, &rows) == Status::kOk);
  CHECK_EQ(rows, 1137u);
  CHECK(rows_per_block(1920, 1080, layout, &rows) == Status::kOk);
  CHECK_EQ(rows, 1080u);
  CHECK(rows_per_block(0, 10, layout, &rows) == Status::kBadArgs);
  Layout tiny;
  CHECK(layout_for_file_size(kMinFileSize, &tiny) == Status::kOk);
  CHECK(rows_per_block(22, 1, tiny, &rows) == Status::kFrameTooLarge);  // 66-byte row > n = 64
}

TEST_CASE("validate_block refuses every geometry that would reach outside a payload") {
  Layout layout;
  CHECK(layout_for_file_size(8192, Reading::kAligned64, &layout) == Status::kOk);  // n = 4032
  CHECK(validate_block({1, 10, 10, 0, 10}, layout) == Status::kOk);
  CHECK(validate_block({1, 0, 10, 0, 10}, layout) == Status::kBadArgs);
  CHECK(validate_block({1, 10, 0, 0, 0}, layout) == Status::kBadArgs);
  CHECK(validate_block({1, 10, 10, 0, 0}, layout) == Status::kBadArgs);
  CHECK(validate_block({1, 10, 10, 5, 6}, layout) == Status::kBadArgs);
  CHECK(validate_block({1, 10, 10, 0xFFFFFFFF, 2}, layout) == Status::kBadArgs);
  CHECK(validate_block({1, 0xFFFFFFFF, 0xFFFFFFFF, 0, 0xFFFFFFFF}, layout) == Status::kFrameTooLarge);
  CHECK(validate_block({1, 1345, 1, 0, 1}, layout) == Status::kFrameTooLarge);   // 4035-byte row
  CHECK(validate_block({1, 100, 100, 0, 14}, layout) == Status::kFrameTooLarge);  // 4200 bytes
  CHECK(validate_block({1, 100, 100, 86, 13}, layout) == Status::kOk);
}

TEST_CASE("created file: private 0700 directory, 0600 file named shmem_<pid+i>.bin, removed on close") {
  FileError error;
  Mapping* m = Mapping::create(CreateOptions{"", 4096}, &error);
  CHECK(m != nullptr);
  if (!m) return;
  const std::string path = m->path();
  const std::string dir = path.substr(0, path.rfind('/'));
  struct stat st {};
  CHECK(stat(dir.c_str(), &st) == 0 && (st.st_mode & 0777) == 0700);
  CHECK(lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600);
  CHECK_EQ(static_cast<uint64_t>(st.st_size), 4096u);
  CHECK(path.find("/shmem_" + std::to_string(getpid()) + ".bin") != std::string::npos);
  struct stat shm {};
  if (stat("/dev/shm", &shm) == 0 && access("/dev/shm", W_OK) == 0) CHECK(path.rfind("/dev/shm/", 0) == 0);
  m->remove_file();
  CHECK(access(path.c_str(), F_OK) != 0);
  CHECK(access(dir.c_str(), F_OK) != 0);
  m->release();
}

TEST_CASE("open refuses symlinks, FIFOs, directories and files too small") {
  char dir[] = "/tmp/ensight-core-test-XXXXXX";
  CHECK(mkdtemp(dir) != nullptr);
  const std::string base = dir;
  auto real = make_stream(4096);
  FileError error;
  const std::string link = base + "/link.bin";
  CHECK(symlink(real->path().c_str(), link.c_str()) == 0);
  CHECK(Mapping::open(link, &error) == nullptr);
  CHECK(error.status == Status::kUnableToOpenFile && error.sys_errno == ELOOP);
  const std::string fifo = base + "/fifo.bin";
  CHECK(mkfifo(fifo.c_str(), 0600) == 0);
  CHECK(Mapping::open(fifo, &error) == nullptr);
  CHECK(error.status == Status::kUnableToOpenFile);
  CHECK(Mapping::open(base, &error) == nullptr);
  CHECK(error.status == Status::kUnableToOpenFile);
  const std::string small = base + "/small.bin";
  const int fd = ::open(small.c_str(), O_CREAT | O_RDWR, 0600);
  CHECK(ftruncate(fd, 100) == 0);
  close(fd);
  CHECK(Mapping::open(small, &error) == nullptr);
  CHECK(error.status == Status::kBadFileSize && error.observed_size == 100);
  unlink(link.c_str());
  unlink(fifo.c_str());
  unlink(small.c_str());
  rmdir(dir);
}

TEST_CASE("ownership machine: 4 -> 0 on attach, 1 -> 2 on publish, 3 on lock, 0 on unlock") {
  auto m = make_stream(8192);
  Producer producer(m.m);
  Consumer consumer(m.m);
  std::vector<uint8_t> frame(10 * 10 * 3);
  CHECK(producer.put_frame(1, 10, 10, frame.data(), frame.size(), 0, 0) == Status::kUnconnected);  // zero-filled file
  producer.initialise();
  CHECK(state_at(m.m, 0) == kInitial && state_at(m.m, 1) == kInitial);
  CHECK(!producer.connected());
  CHECK(producer.put_frame(1, 10, 10, frame.data(), frame.size(), 0, 0) == Status::kUnconnected);
  CHECK(consumer.attach());
  CHECK(state_at(m.m, 0) == kServerOwns && state_at(m.m, 1) == kServerOwns);
  CHECK(producer.connected());
  pattern::fill(7, frame);
  CHECK(producer.put_frame(7, 10, 10, frame.data(), frame.size(), 0, 0) == Status::kOk);
  CHECK(state_at(m.m, 0) == kWritten);
  Block block;
  CHECK(consumer.try_lock(&block) == Status::kOk);
  CHECK(state_at(m.m, 0) == kClientLocked);
  CHECK(block.header.frame_number == 7 && block.header.width == 10 && block.header.is_whole_frame());
  CHECK(pattern::matches(7, 0, block.pixels, frame.size()));
  CHECK(consumer.try_lock(&block) == Status::kNoFrameAvailable);
  CHECK(consumer.unlock(0) == Status::kOk);
  CHECK(state_at(m.m, 0) == kServerOwns);
  CHECK(consumer.unlock(0) == Status::kNotLocked);
  CHECK(consumer.unlock(5) == Status::kNotLocked);
  CHECK(producer.stats().frames_published == 1 && producer.stats().frames_unconnected == 2);
}

TEST_CASE("frames are dropped (counted) while the consumer holds both buffers, and come oldest first") {
  Connected stream(8192);
  auto& [m, producer, consumer] = stream;
  std::vector<uint8_t> frame(4 * 4 * 3);
  for (uint32_t f = 1; f <= 3; ++f) {
    pattern::fill(f, frame);
    (void)producer.put_frame(f, 4, 4, frame.data(), frame.size(), 0, 0);
  }
  CHECK_EQ(producer.stats().frames_published, 2u);
  CHECK_EQ(producer.stats().frames_dropped, 1u);
  Block a, b;
  CHECK(consumer.try_lock(&a) == Status::kOk && a.header.frame_number == 1);
  CHECK(consumer.unlock(a.buffer) == Status::kOk);
  pattern::fill(4, frame);
  CHECK(producer.put_frame(4, 4, 4, frame.data(), frame.size(), 0, 0) == Status::kOk);
  CHECK(consumer.try_lock(&a) == Status::kOk && a.header.frame_number == 2);
  CHECK(consumer.try_lock(&b) == Status::kOk && b.header.frame_number == 4);
  CHECK(pattern::matches(4, 0, b.pixels, frame.size()));
  CHECK(consumer.unlock(a.buffer) == Status::kOk);
  CHECK(consumer.unlock(b.buffer) == Status::kOk);
}

TEST_CASE("a frame larger than n travels as ordered scanline blocks and reassembles, flipped too") {
  Connected stream(8192);  // n = 4032: a 40x40 frame (4800 bytes) needs two blocks of 33 + 7 rows
  auto& [m, producer, consumer] = stream;
  std::vector<uint8_t> frame(40 * 40 * 3);
  pattern::fill(9, frame);
  CHECK(producer.put_frame(9, 40, 40, frame.data(), frame.size(), kFlipVertical, 0) == Status::kOk);
  std::vector<uint8_t> out(frame.size());
  Block block;
  CHECK(consumer.try_lock(&block) == Status::kOk);
  CHECK(block.header.offset == 0 && block.header.num_scanlines == 33 && !block.header.is_last_block());
  place_block_rows(block.header, block.pixels, out.data(), true);  // flip back
  CHECK(consumer.unlock(block.buffer) == Status::kOk);
  CHECK(consumer.try_lock(&block) == Status::kOk);
  CHECK(block.header.offset == 33 && block.header.num_scanlines == 7 && block.header.is_last_block());
  place_block_rows(block.header, block.pixels, out.data(), true);
  CHECK(consumer.unlock(block.buffer) == Status::kOk);
  CHECK(out == frame);
}

TEST_CASE("a hostile header is rejected after the lock that grants ownership, and handed back") {
  Connected stream(8192);
  auto& [m, producer, consumer] = stream;
  std::vector<uint8_t> frame(4 * 4 * 3);
  (void)producer.put_frame(1, 4, 4, frame.data(), frame.size(), 0, 0);
  store_header(m->header(0), BlockHeader{1, 0xFFFFFFFF, 4, 0, 4});  // peer rewrites width
  Block block;
  CHECK(consumer.try_lock(&block) == Status::kFrameTooLarge);
  CHECK(state_at(m.m, 0) == kServerOwns);
  CHECK_EQ(consumer.stats().blocks_rejected, 1u);
  (void)producer.put_frame(2, 4, 4, frame.data(), frame.size(), 0, 0);
  const size_t written = state_at(m.m, 0) == kWritten ? 0 : 1;
  store_header(m->header(written), BlockHeader{2, 4, 4, 3, 2});  // rows past the frame
  CHECK(consumer.try_lock(&block) == Status::kBadArgs);
  CHECK(!consumer.is_locked(0) && !consumer.is_locked(1));
}

TEST_CASE("states outside the machine are never locked or claimed") {
  Connected stream(8192);
  auto& [m, producer, consumer] = stream;
  for (size_t i = 0; i < kBufferCount; ++i) StateWord(m->header(i)).hand_over(77);
  Block block;
  CHECK(consumer.try_lock(&block) == Status::kNoFrameAvailable);
  std::vector<uint8_t> frame(4 * 4 * 3);
  CHECK(producer.put_frame(1, 4, 4, frame.data(), frame.size(), 0, 0) == Status::kNoBufferAvailable);
  CHECK(consumer.wait_ready(monotonic_now_ns() + 5'000'000, nullptr) == Status::kNoFrameAvailable);
}

TEST_CASE("a producer waiting for a buffer sees one freed without a wake long before its poll interval") {
  // EnSight's reference client hands a buffer back by writing the state byte, and wakes nobody.
  Connected stream(8192);
  auto& [m, producer, consumer] = stream;
  producer.set_poll_interval_ns(30'000'000'000);  // a wait that only timed out would take 30 s
  std::vector<uint8_t> frame(4 * 4 * 3);
  CHECK(producer.put_frame(1, 4, 4, frame.data(), frame.size(), 0, 0) == Status::kOk);
  CHECK(producer.put_frame(2, 4, 4, frame.data(), frame.size(), 0, 0) == Status::kOk);
  Block a, b;
  CHECK(consumer.try_lock(&a) == Status::kOk && consumer.try_lock(&b) == Status::kOk);
  std::thread plain_client([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    StateWord(m->header(a.buffer)).hand_over(kServerOwns);  // no futex wake
  });
  const int64_t start = monotonic_now_ns();
  CHECK(producer.put_frame(3, 4, 4, frame.data(), frame.size(), 0, 0, 60'000'000'000) == Status::kOk);
  const int64_t waited = monotonic_now_ns() - start;
  plain_client.join();
  CHECK(waited < 10'000'000'000);  // ~20-40 ms; a third of the interval leaves a loaded machine room
  CHECK(state_at(m.m, a.buffer) == kWritten);
  CHECK(consumer.unlock(b.buffer) == Status::kOk);
}

TEST_CASE("a producer's wait for a buffer lasts its whole deadline, however many timed waits that takes") {
  Connected stream(8192);
  auto& [m, producer, consumer] = stream;
  std::vector<uint8_t> frame(4 * 4 * 3);
  CHECK(producer.put_frame(1, 4, 4, frame.data(), frame.size(), 0, 0) == Status::kOk);
  CHECK(producer.put_frame(2, 4, 4, frame.data(), frame.size(), 0, 0) == Status::kOk);
  Block a, b;
  CHECK(consumer.try_lock(&a) == Status::kOk && consumer.try_lock(&b) == Status::kOk);
  // Waits of 50 us, then an eighth of the time waited, capped at 2 ms, for 300 ms: ~170 of them.
  const int64_t start = monotonic_now_ns();
  CHECK(producer.put_frame(3, 4, 4, frame.data(), frame.size(), 0, 0, 300'000'000) == Status::kNoBufferAvailable);
  CHECK(monotonic_now_ns() - start >= 300'000'000);
  CHECK(producer.stats().frames_dropped == 1u);
  CHECK(consumer.unlock(a.buffer) == Status::kOk && consumer.unlock(b.buffer) == Status::kOk);
}

TEST_CASE("a consumer trusts a producer that wakes it: every frame seen on a wake") {
  Connected stream(8192);
  auto& [m, producer, consumer] = stream;
  consumer.set_poll_interval_ns(30'000'000'000);  // no sleep can time out: each one ends on a wake
  std::vector<uint8_t> frame(4 * 4 * 3);
  std::thread server([&] {
    for (uint32_t n = 1; n <= 10; ++n) {
      std::this_thread::sleep_for(std::chrono::milliseconds(3));
      CHECK(producer.put_frame(n, 4, 4, frame.data(), frame.size(), 0, 0, 60'000'000'000) == Status::kOk);
    }
  });
  for (uint32_t n = 1; n <= 10; ++n) {
    Block block;
    CHECK(consumer.wait_lock(monotonic_now_ns() + 60'000'000'000, &block) == Status::kOk);
    CHECK(block.header.frame_number == n);
    CHECK(consumer.unlock(block.buffer) == Status::kOk);
  }
  server.join();
  CHECK(consumer.producer_wakes());
  CHECK(consumer.unwoken_blocks() == 0u);
}

TEST_CASE("a producer that never wakes: the consumer notices and predicts frames instead of sleeping out its interval") {
  Connected stream(8192);
  auto& [m, producer, consumer] = stream;
  producer.set_wakes(false);
  // Without the prediction each frame would be found at the end of a 1 s sleep: 20 frames, ~10 s.
  consumer.set_poll_interval_ns(1'000'000'000);
  std::vector<uint8_t> frame(4 * 4 * 3);
  std::thread server([&] {
    for (uint32_t n = 1; n <= 20; ++n) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      CHECK(producer.put_frame(n, 4, 4, frame.data(), frame.size(), 0, 0, 60'000'000'000) == Status::kOk);
    }
  });
  const int64_t start = monotonic_now_ns();
  for (uint32_t n = 1; n <= 20; ++n) {
    Block block;
    CHECK(consumer.wait_lock(monotonic_now_ns() + 60'000'000'000, &block) == Status::kOk);
    CHECK(block.header.frame_number == n);
    CHECK(consumer.unlock(block.buffer) == Status::kOk);
  }
  const int64_t took = monotonic_now_ns() - start;
  server.join();
  CHECK(!consumer.producer_wakes());
  CHECK(consumer.unwoken_blocks() >= 1u);
  CHECK(took < 6'000'000'000);  // ~1.1 s: the first frame's 1 s sleep, then ~5 ms a frame
}

TEST_CASE("a timed wait with no producer returns NO_FRAMEAVAILABLE after its deadline") {
  auto m = make_stream(8192);
  Consumer consumer(m.m);
  const int64_t start = monotonic_now_ns();
  CHECK(consumer.wait_ready(start + 20'000'000, nullptr) == Status::kNoFrameAvailable);
  CHECK(monotonic_now_ns() - start >= 20'000'000);
  std::atomic<bool> cancel{true};
  CHECK(consumer.wait_ready(-1, &cancel) == Status::kUnconnected);
}

TEST_CASE("an idle wait sleeps in the futex on the mapped state word, not on a copy of it") {
  auto m = make_stream(8192);
  Consumer consumer(m.m);
  struct rusage before {}, after {};
  getrusage(RUSAGE_THREAD, &before);
  const int64_t start = monotonic_now_ns();
  (void)consumer.wait_ready(start + 300'000'000, nullptr);
  const int64_t wall = monotonic_now_ns() - start;
  getrusage(RUSAGE_THREAD, &after);
  const auto us = [](const struct rusage& r) {
    return int64_t{r.ru_utime.tv_sec + r.ru_stime.tv_sec} * 1'000'000 + r.ru_utime.tv_usec + r.ru_stime.tv_usec;
  };
  CHECK((us(after) - us(before)) * 1000 < wall / 5);  // a busy loop would be ~100 %
  CHECK(StateWord(m->header(1)).address() == reinterpret_cast<uint32_t*>(m->header(1) + kStateOffset));
}

TEST_CASE("a file truncated under the mapping: the SIGBUS guard turns it into BAD_FILE_SIZE") {
  Connected stream(1 << 20);
  auto& [m, producer, consumer] = stream;
  std::vector<uint8_t> frame(200 * 200 * 3);
  CHECK(producer.put_frame(1, 200, 200, frame.data(), frame.size(), 0, 0) == Status::kOk);
  Block block;
  CHECK(consumer.try_lock(&block) == Status::kOk);
  const int fd = ::open(m->path().c_str(), O_RDWR);
  CHECK(ftruncate(fd, 4096) == 0);
  close(fd);
  // Reading the locked payload past the new end of file would be SIGBUS without the guard.
  volatile uint8_t sink = 0;
  for (uint64_t i = 0; i < block.header.block_bytes(); i += 4096) sink = sink + block.pixels[i];
  (void)sink;
  CHECK(sigbus_guard_installed());
  CHECK(m->truncated());
  CHECK(consumer.try_lock(&block) == Status::kBadFileSize);
  CHECK(producer.put_frame(2, 200, 200, frame.data(), frame.size(), 0, 0) == Status::kBadFileSize);
  CHECK(m->check_size() == Status::kBadFileSize);
}

// An independent writer, as EnSight might be: headers written at a chosen reading's position with
// plain stores, never a futex wake. The consumer must find header 1 and read every block.
namespace {
void write_header(Mapping* m, uint64_t at, const BlockHeader& g, uint8_t state) {
  std::memcpy(m->base() + at, &g.frame_number, 4);
  std::memcpy(m->base() + at + 4, &g.width, 4);
  std::memcpy(m->base() + at + 8, &g.height, 4);
  std::memcpy(m->base() + at + 12, &g.offset, 4);
  std::memcpy(m->base() + at + 16, &g.num_scanlines, 4);
  StateWord(m->base() + at).hand_over(state);
}
// Publishes one whole frame into the buffer whose header is at `at`.
void write_frame(Mapping* m, uint64_t at, uint32_t frame, uint32_t w, uint32_t h) {
  std::vector<uint8_t> pixels(uint64_t{w} * h * 3);
  pattern::fill(frame, pixels);
  std::memcpy(m->base() + at + kHeaderSize, pixels.data(), pixels.size());
  write_header(m, at, BlockHeader{frame, w, h, 0, h}, kWritten);
}
// A default-size file an independent writer fills with `reading`'s layout, and our consumer of it.
struct IndependentStream {
  MappingRef m;
  Layout layout;
  uint64_t h1;  // where header 1 is under `reading`
  Consumer consumer;
  explicit IndependentStream(Reading reading) : m(make_stream(kDefaultFileSize)), h1(0), consumer(m.m) {
    CHECK(layout_for_file_size(kDefaultFileSize, reading, &layout) == Status::kOk);
    h1 = layout.header_offset(1);
  }
};
}  // namespace

TEST_CASE("header 1 is found at either reading with initial state 4; never attached on one buffer") {
  for (Reading reading : {Reading::kPlain, Reading::kAligned64}) {
    IndependentStream stream(reading);
    auto& [m, layout, h1, consumer] = stream;
    write_header(m.m, 0, BlockHeader{}, kInitial);
    CHECK(!consumer.attach());  // buffer 0 taken, header 1 not initialised yet
    CHECK(!consumer.attached());
    write_header(m.m, h1, BlockHeader{}, kInitial);
    CHECK(consumer.attach());
    CHECK(consumer.reading() == static_cast<int>(reading) && consumer.initial_state() == 4);
    CHECK(state_of(StateWord(m->base() + h1).load()) == kServerOwns);
    CHECK_EQ(consumer.layout().payload_size, layout.payload_size);
    for (uint32_t f = 1; f <= 4; ++f) {
      write_frame(m.m, (f % 2) ? 0 : h1, f, 64, 48);
      Block block;
      CHECK(consumer.try_lock(&block) == Status::kOk);
      CHECK(block.header.frame_number == f && pattern::matches(f, 0, block.pixels, block.header.block_bytes()));
      CHECK(consumer.unlock(block.buffer) == Status::kOk);
    }
  }
}

TEST_CASE("initial state 0: buffer 0 is read at once, header 1 found from its first published block") {
  for (Reading reading : {Reading::kPlain, Reading::kAligned64}) {
    IndependentStream stream(reading);
    auto& [m, layout, h1, consumer] = stream;
    CHECK(!consumer.attach());
    // A block filling all of payload 0 (plain: it covers the aligned candidate position).
    const uint32_t w = 1000, h = static_cast<uint32_t>(layout.payload_size / 3000);
    write_frame(m.m, 0, 1, w, h);
    write_frame(m.m, h1, 2, w, h);
    Block block;
    CHECK(consumer.try_lock(&block) == Status::kOk);
    CHECK(block.buffer == 0 && block.header.frame_number == 1);
    CHECK(pattern::matches(1, 0, block.pixels, block.header.block_bytes()));
    CHECK(consumer.unlock(0) == Status::kOk);
    CHECK(consumer.try_lock(&block) == Status::kOk);
    CHECK(block.buffer == 1 && block.header.frame_number == 2);
    CHECK(pattern::matches(2, 0, block.pixels, block.header.block_bytes()));
    CHECK(consumer.unlock(1) == Status::kOk);
    CHECK(consumer.reading() == static_cast<int>(reading) && consumer.initial_state() == 0);
    CHECK(consumer.attached());
  }
}

TEST_CASE("the SIGBUS guard has no fixed slot limit: the 200th mapping is guarded too") {
  std::vector<MappingRef> streams;
  const size_t before = sigbus_guarded_mappings();
  for (int i = 0; i < 200; ++i) streams.push_back(make_stream(8192));
  CHECK_EQ(sigbus_guarded_mappings(), before + 200);
  Mapping* last = streams.back().m;
  const int fd = ::open(last->path().c_str(), O_RDWR);
  CHECK(ftruncate(fd, 0) == 0);
  close(fd);
  volatile uint8_t sink = last->base()[4096];  // SIGBUS without the guard
  (void)sink;
  CHECK(last->truncated());
  streams.clear();
  CHECK_EQ(sigbus_guarded_mappings(), before);
}

int main() { return check::run_all("core_test"); }
