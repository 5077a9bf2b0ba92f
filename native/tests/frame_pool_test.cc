// Unit tests of the FramePool: blocks come back and are lent again, the owned bytes never pass the
// cap, free blocks of another size go, close() unmaps what is free and what comes back later, and
// blocks given back from other threads (as runtimes finalize) keep the counts straight.
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "../frame_pool.h"
#include "check.h"

using namespace ensight::shmem;

namespace {

constexpr size_t kFrame = 640 * 480 * 3;  // not a whole number of pages

}  // namespace

TEST_CASE("a block given back is lent again, not mapped afresh; its bytes are the caller's meanwhile") {
  FramePool pool(8 * kFrame);
  size_t cap_a = 0, cap_b = 0;
  uint8_t* a = pool.acquire(kFrame, &cap_a);
  uint8_t* b = pool.acquire(kFrame, &cap_b);
  CHECK(a != nullptr && b != nullptr && a != b);
  CHECK(cap_a >= kFrame && cap_a == cap_b);
  std::memset(a, 0xaa, kFrame);
  std::memset(b, 0xbb, kFrame);
  CHECK(a[kFrame - 1] == 0xaa && b[0] == 0xbb);
  pool.give_back(a, cap_a);
  size_t cap_c = 0;
  uint8_t* c = pool.acquire(kFrame, &cap_c);
  CHECK(c == a);
  FramePool::Counts counts = pool.counts();
  CHECK_EQ(counts.blocks_mapped, uint64_t{2});
  CHECK_EQ(counts.lent_blocks, size_t{2});
  CHECK_EQ(counts.free_blocks, size_t{0});
  CHECK_EQ(counts.owned_bytes, 2 * cap_a);
  CHECK_EQ(pool.take_returned_bytes(), cap_a);
  CHECK_EQ(pool.take_returned_bytes(), size_t{0});
  pool.give_back(b, cap_b);
  pool.give_back(c, cap_c);
  counts = pool.counts();
  CHECK_EQ(counts.lent_blocks, size_t{0});
  CHECK_EQ(counts.free_blocks, size_t{2});
}

TEST_CASE("running_low: true while the pool grows and while at most `headroom` blocks are free") {
  FramePool pool(16 * kFrame);
  CHECK(pool.running_low(2));  // nothing free yet
  std::vector<std::pair<uint8_t*, size_t>> lent;
  for (int i = 0; i < 5; ++i) {
    size_t cap = 0;
    uint8_t* block = pool.acquire(kFrame, &cap);
    CHECK(block != nullptr);
    lent.emplace_back(block, cap);
    CHECK(pool.running_low(2));  // every block is out
  }
  for (int i = 0; i < 3; ++i) pool.give_back(lent[i].first, lent[i].second);
  CHECK(!pool.running_low(2));  // three free
  CHECK(pool.running_low(3));
  size_t cap = 0;
  uint8_t* again = pool.acquire(kFrame, &cap);
  CHECK(again != nullptr);
  CHECK(pool.running_low(2));  // two free again
  pool.give_back(again, cap);
  for (int i = 3; i < 5; ++i) pool.give_back(lent[i].first, lent[i].second);
}

TEST_CASE("the owned bytes never pass the cap: past it acquire() refuses, and lends again once a block is back") {
  FramePool pool(3 * kFrame + 100);
  std::vector<std::pair<uint8_t*, size_t>> lent;
  size_t refused = 0;
  for (int i = 0; i < 10; ++i) {
    size_t capacity = 0;
    uint8_t* block = pool.acquire(kFrame, &capacity);
    if (block == nullptr) {
      ++refused;
    } else {
      lent.emplace_back(block, capacity);
    }
    CHECK(pool.counts().owned_bytes <= pool.counts().cap_bytes);
  }
  CHECK(lent.size() >= 1 && lent.size() <= 3);
  CHECK_EQ(refused, 10 - lent.size());
  CHECK_EQ(pool.counts().lends_refused, uint64_t{refused});
  pool.give_back(lent.back().first, lent.back().second);
  size_t capacity = 0;
  uint8_t* again = pool.acquire(kFrame, &capacity);
  CHECK(again == lent.back().first);
  lent.back().first = again;
  for (auto [block, cap] : lent) pool.give_back(block, cap);
  FramePool none(0);
  CHECK(none.acquire(1, &capacity) == nullptr);
  CHECK(pool.acquire(4 * kFrame, &capacity) == nullptr);  // larger than the whole cap
}

TEST_CASE("min_blocks raises the cap to that many blocks of a large frame, and only then") {
  FramePool pool(2 * kFrame, 4);
  std::vector<std::pair<uint8_t*, size_t>> lent;
  for (int i = 0; i < 6; ++i) {
    size_t capacity = 0;
    if (uint8_t* block = pool.acquire(3 * kFrame, &capacity)) lent.emplace_back(block, capacity);
  }
  CHECK_EQ(lent.size(), size_t{4});
  CHECK_EQ(pool.counts().cap_bytes, 4 * lent[0].second);
  CHECK_EQ(pool.counts().lends_refused, uint64_t{2});
  for (auto [block, cap] : lent) pool.give_back(block, cap);
  lent.clear();
  for (int i = 0; i < 20; ++i) {  // small frames: the byte cap holds (4 small blocks are less)
    size_t capacity = 0;
    if (uint8_t* block = pool.acquire(4096, &capacity)) lent.emplace_back(block, capacity);
    CHECK(pool.counts().owned_bytes <= 2 * kFrame);
  }
  CHECK_EQ(lent.size(), size_t{20});
  for (auto [block, cap] : lent) pool.give_back(block, cap);
}

TEST_CASE("a new frame size drops the free blocks of the old one before mapping") {
  FramePool pool(4 * kFrame);
  size_t small_cap = 0, large_cap = 0;
  uint8_t* small = pool.acquire(kFrame, &small_cap);
  CHECK(small != nullptr);
  pool.give_back(small, small_cap);
  CHECK_EQ(pool.counts().free_blocks, size_t{1});
  uint8_t* large = pool.acquire(3 * kFrame, &large_cap);
  CHECK(large != nullptr);
  FramePool::Counts counts = pool.counts();
  CHECK_EQ(counts.free_blocks, size_t{0});
  CHECK_EQ(counts.owned_bytes, large_cap);
  pool.give_back(large, large_cap);
}

TEST_CASE("close() unmaps the free blocks now and the lent ones as they come back; it lends nothing more") {
  FramePool pool(4 * kFrame);
  size_t cap_a = 0, cap_b = 0;
  uint8_t* a = pool.acquire(kFrame, &cap_a);
  uint8_t* b = pool.acquire(kFrame, &cap_b);
  pool.give_back(a, cap_a);
  pool.close();
  FramePool::Counts counts = pool.counts();
  CHECK_EQ(counts.free_blocks, size_t{0});
  CHECK_EQ(counts.owned_bytes, cap_b);
  b[kFrame - 1] = 7;  // still the holder's memory
  size_t capacity = 0;
  CHECK(pool.acquire(kFrame, &capacity) == nullptr);
  pool.give_back(b, cap_b);
  counts = pool.counts();
  CHECK_EQ(counts.lent_blocks, size_t{0});
  CHECK_EQ(counts.owned_bytes, size_t{0});
}

TEST_CASE("blocks given back from other threads while one thread lends: counts stay exact, nothing is lent twice") {
  auto pool = std::make_shared<FramePool>(16 * 4096);
  constexpr int kRounds = 20000;
  std::mutex out_mutex;
  std::set<uint8_t*> out;  // lent and not yet given back: erased just before give_back
  std::vector<std::thread> finalizers;
  std::vector<LentBlock*> batch;
  int lent = 0;
  int lent_twice = 0;
  const auto finalize = [&out_mutex, &out](std::vector<LentBlock*> records) {
    for (LentBlock* record : records) {
      {
        std::lock_guard<std::mutex> lock(out_mutex);
        out.erase(record->block);
      }
      LentBlock::give_back(record);
    }
  };
  for (int round = 0; round < kRounds; ++round) {
    size_t capacity = 0;
    uint8_t* block = pool->acquire(4000, &capacity);
    if (block == nullptr) continue;
    {
      std::lock_guard<std::mutex> lock(out_mutex);
      if (!out.insert(block).second) ++lent_twice;
    }
    std::memset(block, round & 0xff, 4000);
    batch.push_back(new LentBlock{pool, block, capacity});
    ++lent;
    if (batch.size() >= 4) finalizers.emplace_back(finalize, std::move(batch)), batch.clear();
    if (finalizers.size() >= 4) {
      for (auto& f : finalizers) f.join();
      finalizers.clear();
    }
  }
  for (auto& f : finalizers) f.join();
  finalize(std::move(batch));
  const FramePool::Counts counts = pool->counts();
  CHECK_EQ(lent_twice, 0);
  CHECK(lent > kRounds / 2);
  CHECK_EQ(counts.lent_blocks, size_t{0});
  CHECK(counts.owned_bytes <= counts.cap_bytes);
  CHECK_EQ(counts.owned_bytes, counts.free_blocks * 4096);
  CHECK(counts.blocks_mapped <= 16);
}

int main() { return check::run_all("frame_pool_test"); }
