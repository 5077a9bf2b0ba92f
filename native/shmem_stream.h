// Both sides of the stream: the producer (what EnSight does, and what our emulator does through
// the addon) and the consumer (the client). Single producer, single consumer; see shmem_handoff.h
// for the state machine and its memory ordering.
#pragma once

#include <atomic>
#include <cstdint>

#include "shmem_file.h"
#include "shmem_handoff.h"

namespace ensight::shmem {

// A buffer held by one side: the producer's claim while it writes (state 1) or the consumer's lock
// while it reads (state 3). `header` is our validated snapshot; `pixels` points at block_bytes()
// bytes inside the mapping.
struct Block {
  int buffer = -1;
  BlockHeader header;
  uint8_t* pixels = nullptr;
};

// Where each buffer's header is in a mapping; nullptr for a header not located yet (a consumer
// that has not found where the server put header 1).
struct Headers {
  uint8_t* at[kBufferCount] = {};
};

// The wait interval when the peer might never wake us (real EnSight does not): every wait is a
// timed FUTEX_WAIT of at most this long, after which the states are looked at again. 2 ms bounds
// the added latency with such a peer at 2 ms and costs ~500 wake-ups/s while idle (well under 1%
// of a core); a peer that wakes us is seen at once.
inline constexpr int64_t kDefaultPollIntervalNs = 2'000'000;
// A producer waiting for a free buffer looks at the states again every kFirstProducerWaitNs at
// first, then every 1/kProducerLateShare of the time it has waited so far (up to the poll
// interval): a consumer that frees buffers without waking (EnSight's reference client writes the
// state byte and polls) is then seen within about an eighth of how long it kept the producer
// waiting, plus the wake-up's own cost (~100 us here, timer slack included), at ~20 looks for a
// 2 ms wait; one that wakes is seen at once either way. Waits that doubled from 50 us looked at
// ~50, 150, 350, 750 and 1550 us, so a buffer freed just after a look waited out an interval as
// long as the whole wait before it. Measured (a thread freeing a buffer 150-1000 us into the
// producer's wait, 200 times each): seen 65-183 us late at the median against 115-432 doubling
// (a quarter of the time waited: 122-259). A fixed 2 ms wait was worse still.
inline constexpr int64_t kFirstProducerWaitNs = 50'000;
inline constexpr int64_t kProducerLateShare = 8;
// A consumer spins (instead of sleeping on the futex) only while frames come closer together
// than this, for at most 1.5x the last gap: waking a sleeping thread costs tens of microseconds
// on a virtual machine, more than a close frame is worth waiting in a spin. Idle or slow
// streams never spin.
inline constexpr int64_t kMaxSpinNs = 200'000;
// Against a producer that publishes without waking (EnSight's reference server polls, and nothing
// published says it wakes anyone), a consumer sleeping whole poll intervals would see each frame
// up to an interval late. Once a block turns up published during a sleep that nobody woke, the
// consumer predicts the next frame from the frames' cadence (the median of the last three gaps
// between frames' first blocks seen): it sleeps until kSilentLeadNs (at most an eighth of the
// cadence) before the frame is due, and looks every kSilentPollNs until as long after. A frame
// still overdue is looked for every 1/kSilentLateShare of how overdue it is (at least
// kSilentPollNs, at most the poll interval): it is seen within about a quarter of its lateness, at
// a few dozen wake-ups however late it is.
inline constexpr int64_t kSilentLeadNs = 500'000;
inline constexpr int64_t kSilentPollNs = 50'000;
inline constexpr int64_t kSilentLateShare = 4;
// Blocks seen on a wake this many times running show a producer that wakes (again): one unwoken
// block is enough to start predicting, since predicting costs only wake-ups and not predicting
// costs latency.
inline constexpr int kWokenBlocksToTrust = 8;

// Which of two buffers comes first in (frame_number, offset) order; ties go to buffer 0. Both sides
// use this one rule: the producer to pick which free buffer to fill, the consumer to pick which
// ready buffer to lock and which word to sleep on, so the consumer sleeps where the wake will come.
size_t first_in_order(const BlockHeader& buffer0, const BlockHeader& buffer1);

// What both sides hold: a reference on the mapping (taken at construction, dropped at
// destruction), and the longest sleep of a wait between looks at the states.
class StreamSide {
 public:
  StreamSide(const StreamSide&) = delete;
  StreamSide& operator=(const StreamSide&) = delete;

  void set_poll_interval_ns(int64_t ns) { poll_interval_ns_ = ns; }
  Mapping* mapping() const { return mapping_; }

 protected:
  explicit StreamSide(Mapping* mapping) : mapping_(mapping) { mapping_->retain(); }
  ~StreamSide() { mapping_->release(); }

  Mapping* mapping_;
  int64_t poll_interval_ns_ = kDefaultPollIntervalNs;
};

struct ProducerStats {
  uint64_t frames_published = 0;
  uint64_t frames_dropped = 0;      // NO_BUFFERAVAILABLE: consumer still holds the buffers
  uint64_t frames_unconnected = 0;  // UNCONNECTED: no consumer attached
  uint64_t blocks_published = 0;
};

class Producer : public StreamSide {
 public:
  explicit Producer(Mapping* mapping);  // takes a reference

  // Writes both headers: zero geometry and state 4 (no client yet). A buffer a client holds
  // locked (3) is left to it; it comes back as 0 on unlock. Wakes waiters (a client waiting to
  // attach).
  void initialise();
  // Some buffer has left state 4 since initialise(): a client attached.
  bool connected() const;

  // Claims a buffer for rows [offset, offset + n) of a frame, n = what fits (at most
  // rows_per_block). Without wait_ns, NO_BUFFERAVAILABLE when none is free; with it, waits that
  // long for the consumer to hand one back (used for the later blocks of a frame already begun).
  // UNCONNECTED when no client is attached (or before initialise(): a zero-filled file reads as
  // state 0 everywhere, which must not pass for an attached client).
  [[nodiscard]] Status claim(uint32_t frame_number, uint32_t width, uint32_t height, uint32_t offset, int64_t wait_ns,
               Block* block);
  // 1 -> 2: publishes the block's header and pixels, and wakes the consumer unless told not to.
  void publish(const Block& block);
  // false: publish and initialise without waking anyone, as EnSight's reference server may (the
  // consumer must then find frames by looking; see kSilentLeadNs). Set before frames flow.
  void set_wakes(bool wakes) { wakes_ = wakes; }
  // 1 -> 0: gives up a claim without publishing.
  void abandon(const Block& block);

  // Copies a whole frame (width*height*3 bytes, rows top to bottom) in as many blocks as it takes.
  // The first block waits up to first_block_wait_ns for a free buffer (0, EnSight's behaviour:
  // drop the frame at once; a free-running benchmark producer waits instead). Once begun, later
  // blocks wait up to block_wait_ns each for the consumer, so a consumer never sees half a frame
  // unless it stalls longer than that (it then discards the incomplete frame).
  [[nodiscard]] Status put_frame(uint32_t frame_number, uint32_t width, uint32_t height, const uint8_t* pixels, uint64_t size,
                   uint32_t flags, int64_t block_wait_ns, int64_t first_block_wait_ns = 0);

  const ProducerStats& stats() const { return stats_; }
  // The layout this producer writes: the mapping's (the plain reading where usable).
  const Layout& layout() const { return mapping_->layout(); }

 private:
  Headers headers_;  // the mapping's layout: the plain reading where usable
  bool initialised_ = false;
  bool wakes_ = true;
  ProducerStats stats_;
};

struct ConsumerStats {
  uint64_t blocks_locked = 0;
  uint64_t blocks_rejected = 0;  // headers that failed validation; handed back unread
};

// Destroying a Consumer leaves locks as they are: a buffer still locked stays the consumer's, so
// memory a zero-copy view may still show is never handed back to the producer behind its back.
// unlock_all() first to give everything back.
class Consumer : public StreamSide {
 public:
  explicit Consumer(Mapping* mapping);  // takes a reference

  // Takes over what the server initialised (4 -> 0) and locates header 1:
  // - initial state 4: header 1 is where a candidate reading shows state 4 over zero geometry
  //   (the plain reading first); found at attach, before any payload is written.
  // - initial state 0 (indistinguishable from the zero-filled file): header 1 is where a candidate
  //   shows a published block (state 2) that validates for that reading, has the width and height
  //   of the blocks in buffer 0, and does not lie inside buffer 0's payload; exactly one candidate
  //   must qualify. Until then buffer 0 alone is read.
  // True once both buffers are served. Safe to call from the waiter thread concurrently with the
  // owner's calls.
  bool attach();
  bool attached() const;
  // The reading header 1 was found at, or -1; the initial state the server used (4 or 0), or -1.
  int reading() const { return reading_.load(std::memory_order_acquire); }
  int initial_state() const { return initial_state_.load(std::memory_order_relaxed); }
  // Counts the server's (re)initialisations this consumer took over: a restarted server starts its
  // frame numbers afresh, so frames are ordered within one epoch only. Relaxed: bumped before the
  // 4 -> 0 CAS (release) that lets the server write again, so any block locked from that server
  // (an acquire of its publish, which follows its acquire of our 0) sees the new value.
  uint32_t epoch() const { return epoch_.load(std::memory_order_relaxed); }
  // The detected layout, else the mapping's (the plain reading where usable).
  Layout layout() const;
  // The most bytes a block may hold (what try_lock validates against): the largest payload of any
  // usable reading, which lies inside the file whichever reading the server uses.
  uint64_t block_limit() const { return (usable_[0] ? candidates_[0] : layout()).payload_size; }

  // Locks the oldest written block (2 -> 3), snapshots and validates its header after the CAS that
  // grants ownership. NO_FRAMEAVAILABLE when none is ready; a validation status (the buffer is
  // handed back unread) for a hostile header; BAD_FILE_SIZE once the file was truncated.
  [[nodiscard]] Status try_lock(Block* block);
  // Hands a locked buffer back (3 -> 0) and wakes a producer waiting for it.
  [[nodiscard]] Status unlock(int buffer);
  bool is_locked(int buffer) const;
  void unlock_all();

  // Sleeps until some block is ready to lock, the deadline passes (NO_FRAMEAVAILABLE), `cancel`
  // becomes true (UNCONNECTED), or the file is truncated (BAD_FILE_SIZE). deadline_ns < 0: no
  // deadline. Locks nothing, so it may run on another thread than try_lock/unlock.
  [[nodiscard]] Status wait_ready(int64_t deadline_ns, const std::atomic<bool>* cancel);
  // try_lock, sleeping in wait_ready between attempts.
  [[nodiscard]] Status wait_lock(int64_t deadline_ns, Block* block);

  // Wakes everything sleeping on this stream's words in this process and others (used on close).
  void wake_all() const;

  const ConsumerStats& stats() const { return stats_; }
  // Whether the producer seems to wake this consumer when it publishes (see kSilentLeadNs): false
  // once a block turned up during a sleep nobody woke, until kWokenBlocksToTrust are woken again.
  bool producer_wakes() const { return woken_run_.load(std::memory_order_relaxed) >= kWokenBlocksToTrust; }
  // Blocks found published during a sleep that nobody woke: the evidence producer_wakes() goes by.
  uint64_t unwoken_blocks() const { return unwoken_blocks_.load(std::memory_order_relaxed); }

 private:
  Headers headers() const;
  // Buffers that may be locked: buffer 0 always (its header is at the base), buffer 1 once found.
  unsigned eligible() const { return reading() >= 0 ? 0b11u : 0b01u; }
  void found(Reading reading, int initial_state);
  void detect_initialised();
  void detect_published();

  Layout candidates_[kReadingCount];
  bool usable_[kReadingCount] = {};
  // Which reading header 1 was found at (-1: not yet). Set once by a CAS, from whichever thread
  // runs attach() first; it only selects which bytes of the mapping are header 1 (each access to
  // them is an atomic with its own ordering), but release/acquire keeps attached_[1], written
  // after it, meaningful to a thread that sees the reading.
  std::atomic<int> reading_{-1};
  std::atomic<int> initial_state_{-1};  // relaxed: reported, never steers a read
  std::atomic<uint32_t> epoch_{0};  // relaxed: ordered by the 4 -> 0 CAS after it, see epoch()
  // Relaxed: reported by attached(); set after the state change it reports (attach's CAS, or a
  // lock of a published header 1), never read to decide what bytes to touch.
  std::atomic<bool> attached_[kBufferCount] = {};
  bool locked_[kBufferCount] = {};
  ConsumerStats stats_;
  // The geometry of the last block locked in buffer 0: the reference a published header 1 must
  // match while the state-0 reading is being detected. Relaxed: a hint, validated before use.
  std::atomic<uint32_t> seen_width_{0}, seen_height_{0};
  std::atomic<uint64_t> seen_end_{0};  // where that block's payload ended in the file
  // When wait_ready last found a block ready, and the gap before that (spin budget, see
  // kMaxSpinNs). Relaxed atomics: the sync wait and the async waiter thread may take turns; the
  // values only steer how long to spin, never what is read.
  std::atomic<int64_t> last_ready_ns_{0};
  std::atomic<int64_t> last_gap_ns_{kMaxSpinNs};
  // What the next frame of a producer that does not wake is predicted from (kSilentLeadNs): when
  // the last frame's first block was published (at the earliest, see note_ready), the last three gaps between such blocks (a median, so
  // one skipped frame or early one does not move the prediction), and how many blocks running were
  // seen on a wake. Relaxed like the two above: they steer how long to sleep, never what is read.
  std::atomic<uint32_t> last_frame_number_{0};
  std::atomic<int64_t> frame_seen_ns_{0};
  std::atomic<int64_t> last_empty_look_ns_{0};  // when a wait last found nothing ready
  std::atomic<int64_t> frame_gaps_ns_[3] = {};
  std::atomic<unsigned> next_gap_{0};
  std::atomic<int> woken_run_{kWokenBlocksToTrust};
  std::atomic<uint64_t> unwoken_blocks_{0};
  std::atomic<int64_t> size_checked_ns_{0};  // when a wait last looked at the file's size

  // Records a block of `frame_number` found ready: the gaps above, and how the sleep before it
  // ended (the result of futex_wait_shared, or kNotSlept).
  void note_ready(uint32_t frame_number, int slept);
  // The median of the frame gaps recorded (0 until three are).
  int64_t cadence_ns() const;
  // How long the next sleep of a wait may be: the poll interval for a producer that wakes, else
  // what the prediction says (kSilentLeadNs).
  int64_t next_sleep_ns() const;
};

}  // namespace ensight::shmem
