#include "shmem_stream.h"

#include <algorithm>
#include <cerrno>

namespace ensight::shmem {

size_t first_in_order(const BlockHeader& buffer0, const BlockHeader& buffer1) {
  return block_before(buffer1, buffer0) ? 1 : 0;
}

namespace {

// What an unlocated header reads as: no state of the machine, so never locked, claimed or waited on.
constexpr uint8_t kUnknownState = 0xFE;

struct Snapshot {
  uint32_t word[kBufferCount];
  uint8_t state(size_t i) const { return state_of(word[i]); }
};

Snapshot load_states(const Headers& h) {
  Snapshot s{};
  for (size_t i = 0; i < kBufferCount; ++i) s.word[i] = h.at[i] ? StateWord(h.at[i]).load() : word_of(kUnknownState);
  return s;
}

// Of the buffers whose bit is set in `mask` (located ones only), the first in (frame_number,
// offset) order; -1 if none.
int first_of(const Headers& h, unsigned mask) {
  if (mask == 0) return -1;
  if (mask != 0b11) return mask == 0b01 ? 0 : 1;
  return static_cast<int>(first_in_order(load_header(h.at[0]), load_header(h.at[1])));
}

unsigned buffers_in(const Snapshot& s, uint8_t state) {
  unsigned mask = 0;
  for (size_t i = 0; i < kBufferCount; ++i)
    if (s.state(i) == state) mask |= 1u << i;
  return mask;
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Spins until a state word differs from `s` (relaxed peeks: the caller re-reads with acquire) or
// `budget_ns` passes; true when one changed.
bool spin_until_changed(const Headers& h, const Snapshot& s, int64_t budget_ns) {
  const int64_t until = monotonic_now_ns() + budget_ns;
  do {
    for (int i = 0; i < 64; ++i) cpu_relax();
    for (size_t b = 0; b < kBufferCount; ++b)
      if (h.at[b] && StateWord(h.at[b]).peek() != s.word[b]) return true;
  } while (monotonic_now_ns() < until);
  return false;
}

int64_t sleep_for(int64_t deadline_ns, int64_t interval_ns) {
  if (deadline_ns < 0) return interval_ns;
  const int64_t remaining = deadline_ns - monotonic_now_ns();
  return remaining < interval_ns ? remaining : interval_ns;
}

}  // namespace

// --- Producer --------------------------------------------------------------------------------

Producer::Producer(Mapping* mapping) : StreamSide(mapping) {
  for (size_t i = 0; i < kBufferCount; ++i) headers_.at[i] = mapping_->header(i);
}

void Producer::initialise() {
  for (size_t i = 0; i < kBufferCount; ++i) {
    StateWord state(headers_.at[i]);
    if (state_of(state.load()) == kClientLocked) continue;
    store_header(headers_.at[i], BlockHeader{});
    state.hand_over(kInitial);
    if (wakes_) futex_wake_shared(state.address());
  }
  initialised_ = true;
}

bool Producer::connected() const {
  if (!initialised_) return false;
  const Snapshot s = load_states(headers_);
  return buffers_in(s, kInitial) != 0b11;
}

Status Producer::claim(uint32_t frame_number, uint32_t width, uint32_t height, uint32_t offset, int64_t wait_ns,
                       Block* block) {
  if (mapping_->truncated()) return Status::kBadFileSize;
  if (!initialised_) return Status::kUnconnected;
  uint32_t rows = 0;
  if (const Status st = rows_per_block(width, height, mapping_->layout(), &rows); st != Status::kOk) return st;
  if (offset >= height) return Status::kBadArgs;
  if (rows > height - offset) rows = height - offset;
  const int64_t started = wait_ns > 0 ? monotonic_now_ns() : 0;
  const int64_t deadline = wait_ns > 0 ? started + wait_ns : 0;
  for (;;) {
    const Snapshot s = load_states(headers_);
    if (const int i = first_of(headers_, buffers_in(s, kServerOwns)); i >= 0) {
      StateWord state(headers_.at[i]);
      state.mark_writing();
      claim_fence();
      const BlockHeader header{frame_number, width, height, offset, rows};
      store_header(headers_.at[i], header);
      *block = Block{i, header, mapping_->payload(i)};
      return Status::kOk;
    }
    if (buffers_in(s, kInitial) == 0b11) return Status::kUnconnected;
    if (wait_ns <= 0) return Status::kNoBufferAvailable;
    // See kProducerLateShare: each look comes a fixed share of the time waited so far after the last.
    const int64_t interval_ns = std::max((monotonic_now_ns() - started) / kProducerLateShare, kFirstProducerWaitNs);
    const int64_t sleep_ns = sleep_for(deadline, std::min(interval_ns, poll_interval_ns_));
    if (sleep_ns <= 0) return Status::kNoBufferAvailable;
    // The consumer hands buffers back in the order it locks them: sleep on the first one.
    const int target = first_of(headers_, buffers_in(s, kWritten) | buffers_in(s, kClientLocked));
    const size_t w = target < 0 ? 0 : static_cast<size_t>(target);
    futex_wait_shared(StateWord(headers_.at[w]).address(), s.word[w], sleep_ns);
  }
}

void Producer::publish(const Block& block) {
  StateWord state(headers_.at[block.buffer]);
  state.hand_over(kWritten);
  if (wakes_) futex_wake_shared(state.address());
  ++stats_.blocks_published;
}

void Producer::abandon(const Block& block) { StateWord(headers_.at[block.buffer]).mark_free(); }

Status Producer::put_frame(uint32_t frame_number, uint32_t width, uint32_t height, const uint8_t* pixels,
                           uint64_t size, uint32_t flags, int64_t block_wait_ns, int64_t first_block_wait_ns) {
  if (size != uint64_t{width} * height * kBytesPerPixel || pixels == nullptr) return Status::kBadArgs;
  const bool flip = (flags & kFlipVertical) != 0;
  for (uint32_t offset = 0; offset < height;) {
    Block block;
    const Status st = claim(frame_number, width, height, offset, offset == 0 ? first_block_wait_ns : block_wait_ns, &block);
    if (st != Status::kOk) {
      if (st == Status::kUnconnected) ++stats_.frames_unconnected;
      if (st == Status::kNoBufferAvailable) ++stats_.frames_dropped;
      return st;
    }
    take_block_rows(width, height, offset, block.header.num_scanlines, pixels, block.pixels, flip);
    if (mapping_->truncated()) {
      abandon(block);
      return Status::kBadFileSize;
    }
    publish(block);
    offset += block.header.num_scanlines;
  }
  ++stats_.frames_published;
  return Status::kOk;
}

// --- Consumer --------------------------------------------------------------------------------

Consumer::Consumer(Mapping* mapping) : StreamSide(mapping) {
  for (size_t r = 0; r < kReadingCount; ++r) {
    usable_[r] = layout_for_file_size(mapping_->layout().file_size, static_cast<Reading>(r), &candidates_[r]) == Status::kOk;
  }
  // One file size can give both readings the same n: then there is one candidate, not two.
  if (usable_[0] && usable_[1] && candidates_[0].payload_size == candidates_[1].payload_size) usable_[1] = false;
}


Layout Consumer::layout() const {
  const int r = reading();
  return r >= 0 ? candidates_[r] : mapping_->layout();
}

Headers Consumer::headers() const {
  Headers h;
  h.at[0] = mapping_->base();
  const int r = reading();
  if (r >= 0) h.at[1] = mapping_->base() + candidates_[r].header_offset(1);
  return h;
}

void Consumer::found(Reading reading, int initial_state) {
  int expected = -1;
  // release: pairs with the acquire in reading(); see the member's comment.
  if (reading_.compare_exchange_strong(expected, static_cast<int>(reading), std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
    initial_state_.store(initial_state, std::memory_order_relaxed);
  }
}

void Consumer::detect_initialised() {
  for (size_t r = 0; r < kReadingCount; ++r) {
    if (!usable_[r]) continue;
    uint8_t* header = mapping_->base() + candidates_[r].header_offset(1);
    if (state_of(StateWord(header).load()) != kInitial) continue;
    const BlockHeader g = load_header(header);
    if (g.frame_number || g.width || g.height || g.offset || g.num_scanlines) continue;
    found(static_cast<Reading>(r), kInitial);
    return;
  }
}

void Consumer::detect_published() {
  // The reference geometry: buffer 0's block while the client owns it (the server leaves 2 and 3
  // alone), else the last block we locked there.
  uint32_t width = seen_width_.load(std::memory_order_relaxed);
  uint32_t height = seen_height_.load(std::memory_order_relaxed);
  uint64_t payload0_end = seen_end_.load(std::memory_order_relaxed);
  const uint8_t state0 = state_of(StateWord(mapping_->base()).load());
  if (state0 == kWritten || state0 == kClientLocked) {
    const BlockHeader g0 = load_header(mapping_->base());
    if (validate_block(g0, mapping_->layout()) == Status::kOk) {
      width = g0.width;
      height = g0.height;
      payload0_end = kHeaderSize + g0.block_bytes();
    }
  }
  if (width == 0) return;
  int candidate = -1, qualified = 0;
  for (size_t r = 0; r < kReadingCount; ++r) {
    if (!usable_[r]) continue;
    const uint64_t at = candidates_[r].header_offset(1);
    if (at < payload0_end) continue;  // pixels of buffer 0, not a header
    uint8_t* header = mapping_->base() + at;
    if (state_of(StateWord(header).load()) != kWritten) continue;
    const BlockHeader g = load_header(header);
    if (validate_block(g, candidates_[r]) != Status::kOk || g.width != width || g.height != height) continue;
    candidate = static_cast<int>(r);
    ++qualified;
  }
  if (qualified == 1) {
    found(static_cast<Reading>(candidate), kServerOwns);
    attached_[1].store(true, std::memory_order_relaxed);
  }
}

void Consumer::unlock_all() {
  for (size_t i = 0; i < kBufferCount; ++i)
    if (locked_[i]) static_cast<void>(unlock(static_cast<int>(i)));  // locked: unlock cannot fail
}

bool Consumer::attach() {
  if (reading() < 0) detect_initialised();
  const Headers h = headers();
  for (size_t i = 0; i < kBufferCount; ++i) {
    if (!h.at[i]) continue;
    StateWord state(h.at[i]);
    uint32_t expected = state.load();
    if (state_of(expected) != kInitial) continue;
    epoch_.fetch_add(1, std::memory_order_relaxed);  // before the CAS: see epoch()
    if (state.take(expected, kServerOwns)) {
      attached_[i].store(true, std::memory_order_relaxed);
      futex_wake_shared(state.address());
    }
  }
  if (reading() < 0) detect_published();
  return attached();
}

bool Consumer::attached() const {
  for (const auto& a : attached_)
    if (!a.load(std::memory_order_relaxed)) return false;
  return true;
}

bool Consumer::is_locked(int buffer) const {
  return buffer >= 0 && buffer < static_cast<int>(kBufferCount) && locked_[buffer];
}

Status Consumer::try_lock(Block* block) {
  if (mapping_->truncated()) return Status::kBadFileSize;
  attach();
  const Headers h = headers();
  const unsigned eligible_now = h.at[1] ? 0b11u : 0b01u;
  // Validated against the largest payload any usable reading gives: still inside the file whichever
  // reading the server uses, so a server that fills more than our reading of n is still read safely.
  const Layout limit = usable_[0] ? candidates_[0] : layout();  // see block_limit()
  for (;;) {
    const Snapshot s = load_states(h);
    const unsigned ready = buffers_in(s, kWritten) & eligible_now;
    const int i = first_of(h, ready);
    if (i < 0) return Status::kNoFrameAvailable;
    // The snapshot loaded the words one after another, so a buffer that read as not ready may have
    // been published since, with an older block than i (the producer can publish an older block
    // and then i between our two loads). Anything published before i is visible now: our acquire
    // load of i's 2 synchronised with a release that follows it in the producer's order. So look
    // again; if more is ready, choose afresh.
    bool more_ready = false;
    for (size_t j = 0; j < kBufferCount; ++j) {
      const bool candidate = (eligible_now & (1u << j)) && !(ready & (1u << j));
      more_ready = more_ready || (candidate && state_of(StateWord(h.at[j]).load()) == kWritten);
    }
    if (more_ready) continue;
    StateWord state(h.at[i]);
    uint32_t expected = s.word[i];
    if (!state.take(expected, kClientLocked)) continue;  // another thread of ours took it
    // Ownership is ours from here: snapshot once, validate the snapshot, use only the snapshot.
    const BlockHeader header = load_header(h.at[i]);
    if (const Status st = validate_block(header, limit); st != Status::kOk) {
      state.hand_over(kServerOwns);
      futex_wake_shared(state.address());
      ++stats_.blocks_rejected;
      return st;
    }
    locked_[i] = true;
    ++stats_.blocks_locked;
    attached_[i].store(true, std::memory_order_relaxed);  // the server is evidently serving it
    if (i == 0) {
      seen_width_.store(header.width, std::memory_order_relaxed);
      seen_height_.store(header.height, std::memory_order_relaxed);
      seen_end_.store(kHeaderSize + header.block_bytes(), std::memory_order_relaxed);
    }
    *block = Block{i, header, h.at[i] + kHeaderSize};
    return Status::kOk;
  }
}

Status Consumer::unlock(int buffer) {
  if (!is_locked(buffer)) return Status::kNotLocked;
  locked_[buffer] = false;
  StateWord state(headers().at[buffer]);
  uint32_t expected = word_of(kClientLocked);
  // A CAS, not a store: if the producer re-initialised the stream meanwhile (state 4), writing 0
  // would fake an attach it did not ask for.
  if (state.take(expected, kServerOwns)) futex_wake_shared(state.address());
  return Status::kOk;
}

void Consumer::note_ready(uint32_t frame_number, int slept) {
  const int64_t now = monotonic_now_ns();
  last_gap_ns_.store(now - last_ready_ns_.exchange(now, std::memory_order_relaxed), std::memory_order_relaxed);
  // A block of another frame than the last one seen starts a frame: the cadence is between those
  // (a frame in several blocks would otherwise look like frames coming in quick bursts). A frame
  // found after a sleep nobody woke was published at some time during it: it is dated to the
  // last look that found nothing, the earliest it can have been. Dating it to now would put the
  // cadence at our own sleeps, and a producer waiting for our buffers would then keep to them.
  if (last_frame_number_.exchange(frame_number, std::memory_order_relaxed) != frame_number) {
    const int64_t looked = last_empty_look_ns_.load(std::memory_order_relaxed);
    const int64_t last = frame_seen_ns_.load(std::memory_order_relaxed);
    const int64_t at = slept == ETIMEDOUT && looked > last ? looked : now;
    frame_seen_ns_.store(at, std::memory_order_relaxed);
    if (last != 0) {
      const unsigned i = next_gap_.fetch_add(1, std::memory_order_relaxed) % 3;
      frame_gaps_ns_[i].store(std::max<int64_t>(at - last, 1), std::memory_order_relaxed);
    }
  }
  if (slept == ETIMEDOUT) {
    // Published while we slept, and the sleep ran out: nobody woke us.
    woken_run_.store(0, std::memory_order_relaxed);
    unwoken_blocks_.fetch_add(1, std::memory_order_relaxed);
  } else if (slept == 0) {
    const int run = woken_run_.load(std::memory_order_relaxed);
    if (run < kWokenBlocksToTrust) woken_run_.store(run + 1, std::memory_order_relaxed);
  }
}

int64_t Consumer::cadence_ns() const {
  const int64_t a = frame_gaps_ns_[0].load(std::memory_order_relaxed);
  const int64_t b = frame_gaps_ns_[1].load(std::memory_order_relaxed);
  const int64_t c = frame_gaps_ns_[2].load(std::memory_order_relaxed);
  if (a == 0 || b == 0 || c == 0) return 0;
  return std::max(std::min(a, b), std::min(std::max(a, b), c));
}

int64_t Consumer::next_sleep_ns() const {
  if (producer_wakes()) return poll_interval_ns_;
  const int64_t seen = frame_seen_ns_.load(std::memory_order_relaxed);
  if (seen == 0) return poll_interval_ns_;  // no frame yet: nothing to predict from
  const int64_t cadence = cadence_ns();  // 0 until known: the frame is due from the last one on
  const int64_t lead = std::min(cadence / 8, kSilentLeadNs);
  const int64_t due = seen + cadence;
  const int64_t now = monotonic_now_ns();
  int64_t sleep_ns;
  if (now < due - lead) {
    sleep_ns = due - lead - now;
  } else if (now < due + lead) {
    sleep_ns = kSilentPollNs;
  } else {
    sleep_ns = std::max(kSilentPollNs, (now - due) / kSilentLateShare);  // overdue: see kSilentLateShare
  }
  return std::min(sleep_ns, poll_interval_ns_);
}

Status Consumer::wait_ready(int64_t deadline_ns, const std::atomic<bool>* cancel) {
  // Spin at most once a call, and only while frames are coming close together (kMaxSpinNs).
  const int64_t gap = last_gap_ns_.load(std::memory_order_relaxed);
  int64_t spin_budget_ns = gap < kMaxSpinNs ? gap + gap / 2 : 0;
  int slept = kNotSlept;
  for (;;) {
    if (cancel && cancel->load(std::memory_order_acquire)) return Status::kUnconnected;
    if (mapping_->truncated()) return Status::kBadFileSize;
    attach();
    const Headers h = headers();
    const Snapshot s = load_states(h);
    const unsigned mine = h.at[1] ? 0b11u : 0b01u;
    if (const int ready = first_of(h, buffers_in(s, kWritten) & mine); ready >= 0) {
      // The header of a published block is the producer's until we lock it, and stable: read
      // after the acquire load of its state, it is the block's (used only to steer sleeps).
      note_ready(load_header(h.at[ready]).frame_number, slept);
      return Status::kOk;
    }

    last_empty_look_ns_.store(monotonic_now_ns(), std::memory_order_relaxed);
    // Sleep on the word the producer will wake next: a buffer being written, else the free buffer
    // it will claim first (the producer applies the same first_in_order rule). The headers read to
    // decide may be rewritten as we read them; the acquire fence and re-check below pair with the
    // producer's claim_fence, so a header it already rewrote shows up as a changed state.
    int target = first_of(h, buffers_in(s, kServerWriting) & mine);
    if (target < 0) target = first_of(h, buffers_in(s, kServerOwns) & mine);
    if (target < 0) target = 0;  // not attached yet, or we hold every buffer: any word will do
    recheck_fence();
    bool changed = false;
    for (size_t i = 0; i < kBufferCount; ++i) changed = changed || (h.at[i] && StateWord(h.at[i]).peek() != s.word[i]);
    if (changed) continue;
    if (spin_budget_ns > 0) {
      const bool moved = spin_until_changed(h, s, spin_budget_ns);
      spin_budget_ns = 0;
      if (moved) continue;
    }

    // Until header 1 is located, a server that never wakes (and may use the state-0 reading) is
    // only seen by looking again: the interval bounds that, as for any non-waking server, and the
    // prediction shortens it once such a server shows itself (kSilentLeadNs).
    const int64_t sleep_ns = sleep_for(deadline_ns, next_sleep_ns());
    if (sleep_ns <= 0) return Status::kNoFrameAvailable;
    slept = futex_wait_shared(StateWord(h.at[target]).address(), s.word[target], sleep_ns);
    if (slept == ETIMEDOUT) {
      // A quiet moment to look at the file itself: one fstat a poll interval at most, however
      // short the sleeps of a prediction are.
      const int64_t now = monotonic_now_ns();
      if (now - size_checked_ns_.load(std::memory_order_relaxed) >= poll_interval_ns_) {
        size_checked_ns_.store(now, std::memory_order_relaxed);
        if (mapping_->check_size() != Status::kOk) return Status::kBadFileSize;
      }
    }
  }
}

Status Consumer::wait_lock(int64_t deadline_ns, Block* block) {
  for (;;) {
    const Status st = try_lock(block);
    if (st != Status::kNoFrameAvailable) return st;
    if (const Status waited = wait_ready(deadline_ns, nullptr); waited != Status::kOk) return waited;
  }
}

void Consumer::wake_all() const {
  const Headers h = headers();
  for (size_t i = 0; i < kBufferCount; ++i)
    if (h.at[i]) futex_wake_shared(StateWord(h.at[i]).address());
}

}  // namespace ensight::shmem
