// Unit tests of what the core does for the bindings: block copies out of a lock and into a claim
// (bounds, flips, placement), and the ReadyWaiter thread (delivers OK and NO_FRAMEAVAILABLE,
// stops while waiting without delivering).
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "../shmem_copy.h"
#include "../shmem_handoff.h"
#include "../shmem_waiter.h"
#include "check.h"
#include "pattern.h"

using namespace ensight::shmem;

namespace {

struct Stream {
  Mapping* m;
  Producer producer;
  Consumer consumer;
  static Mapping* create(uint64_t size) {
    FileError error;
    Mapping* m = Mapping::create(CreateOptions{"", size}, &error);
    CHECK(m != nullptr);
    return m;
  }
  explicit Stream(uint64_t size) : m(create(size)), producer(m), consumer(m) {
    producer.initialise();
    CHECK(consumer.attach());
  }
  ~Stream() {
    m->remove_file();
    m->release();
  }
};

// What the waiter thread delivered, for the test thread to wait on.
struct Deliveries {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<Status> statuses;
  static void deliver(void* self, Status status) {
    auto* d = static_cast<Deliveries*>(self);
    std::lock_guard<std::mutex> lock(d->mutex);
    d->statuses.push_back(status);
    d->changed.notify_all();
  }
  // The count once it reached `n`, or what it is after a generous safety net.
  size_t wait_for(size_t n) {
    std::unique_lock<std::mutex> lock(mutex);
    changed.wait_for(lock, std::chrono::seconds(30), [&] { return statuses.size() >= n; });
    return statuses.size();
  }
};

}  // namespace

TEST_CASE("copy_block_out: a block as is, flipped in place, or placed at its rows of the frame") {
  Stream s(8192);  // n = 4032: a 40x40 frame travels as 33 + 7 rows
  std::vector<uint8_t> frame(40 * 40 * 3);
  pattern::fill(3, frame);
  CHECK(s.producer.put_frame(3, 40, 40, frame.data(), frame.size(), 0, 0) == Status::kOk);
  Block block;
  CHECK(s.consumer.try_lock(&block) == Status::kOk);
  CHECK(block.header.num_scanlines == 33);
  const uint64_t row = 40 * 3;
  std::vector<uint8_t> out(frame.size());
  CHECK(copy_out_bytes(block.header, false) == 33 * row);
  CHECK(copy_out_bytes(block.header, true) == frame.size());
  CHECK(copy_block_out(block, *s.m, out.data(), 33 * row - 1, false, false) == Status::kBadArgs);
  CHECK(copy_block_out(block, *s.m, out.data(), 33 * row, false, true) == Status::kBadArgs);
  CHECK(copy_block_out(block, *s.m, out.data(), 33 * row, false, false) == Status::kOk);
  CHECK(std::equal(out.begin(), out.begin() + 33 * row, frame.begin()));
  CHECK(copy_block_out(block, *s.m, out.data(), 33 * row, true, false) == Status::kOk);
  CHECK(std::equal(out.begin(), out.begin() + row, frame.begin() + 32 * row));  // first row: block's last
  std::vector<uint8_t> placed(frame.size());
  CHECK(copy_block_out(block, *s.m, placed.data(), placed.size(), true, true) == Status::kOk);
  CHECK(s.consumer.unlock(block.buffer) == Status::kOk);
  CHECK(s.consumer.try_lock(&block) == Status::kOk);
  CHECK(block.header.offset == 33);
  CHECK(copy_block_out(block, *s.m, placed.data(), placed.size(), true, true) == Status::kOk);
  CHECK(s.consumer.unlock(block.buffer) == Status::kOk);
  for (uint64_t r = 0; r < 40; ++r) {  // flipped whole frame: row r is the frame's row 39 - r
    CHECK(std::equal(placed.begin() + r * row, placed.begin() + (r + 1) * row, frame.begin() + (39 - r) * row));
  }
}

TEST_CASE("fill_block copies a claimed block from its place in a source, refusing one too short") {
  Stream s(8192);
  Block block;
  CHECK(s.producer.claim(5, 8, 8, 0, 0, &block) == Status::kOk);
  const uint64_t bytes = block.header.block_bytes();
  std::vector<uint8_t> source(bytes + 10);
  pattern::fill(5, source);
  CHECK(fill_block(block, source.data(), source.size(), 11) == Status::kBadArgs);
  CHECK(fill_block(block, source.data(), source.size(), source.size() + 1) == Status::kBadArgs);
  CHECK(fill_block(block, source.data(), source.size(), 10) == Status::kOk);
  s.producer.publish(block);
  Block locked;
  CHECK(s.consumer.try_lock(&locked) == Status::kOk);
  CHECK(std::equal(locked.pixels, locked.pixels + bytes, source.begin() + 10));
  CHECK(s.consumer.unlock(locked.buffer) == Status::kOk);
}

TEST_CASE("ReadyWaiter delivers NO_FRAMEAVAILABLE at a deadline, OK once a frame is published") {
  Stream s(8192);
  Deliveries d;
  ReadyWaiter waiter(&s.consumer, &Deliveries::deliver, &d);
  CHECK(waiter.start() == Status::kOk);
  waiter.request(monotonic_now_ns() + 5'000'000);
  CHECK(d.wait_for(1) == 1);
  waiter.request(-1);
  std::vector<uint8_t> frame(4 * 4 * 3);
  CHECK(s.producer.put_frame(1, 4, 4, frame.data(), frame.size(), 0, 0) == Status::kOk);
  CHECK(d.wait_for(2) == 2);
  waiter.stop();
  std::lock_guard<std::mutex> lock(d.mutex);
  CHECK(d.statuses.size() == 2 && d.statuses[0] == Status::kNoFrameAvailable && d.statuses[1] == Status::kOk);
}

TEST_CASE("ReadyWaiter stops while waiting without a deadline, delivering nothing") {
  Stream s(8192);
  Deliveries d;
  ReadyWaiter waiter(&s.consumer, &Deliveries::deliver, &d);
  CHECK(waiter.start() == Status::kOk);
  waiter.request(-1);
  waiter.stop();  // returns only once the thread is joined: a hang here is the failure
  waiter.stop();  // idempotent
  std::lock_guard<std::mutex> lock(d.mutex);
  CHECK(d.statuses.empty());
}

int main() { return check::run_all("copy_waiter_test"); }
