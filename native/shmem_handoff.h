// The lock-free handoff of one buffer between the producer (EnSight's "server") and the consumer
// (the "client"): the buffer_state ownership machine 4 -> 0 -> 1 -> 2 -> 3 -> 0, where only the
// current owner changes the state, plus the futex that lets either side sleep on it.
//
//   4 initial      server wrote it; the client takes ownership of the attach with 4 -> 0
//   0 server owns  the server may claim it:                   0 -> 1 (server)
//   1 writing      server fills header fields and payload;     1 -> 2 (server, publishes)
//   2 written      client owns it, not locked yet;             2 -> 3 (client)
//   3 locked       client reads it;                            3 -> 0 (client, hands it back)
//
// The futex word is the naturally aligned u32 at header + 20: buffer_state plus its three pad
// bytes. We always store the state with zero pad; the word is compared whole (futex and CAS), and
// the state is read from the byte that buffer_state occupies, so a peer's junk pad bytes are
// harmless. Waits are FUTEX_WAIT without FUTEX_PRIVATE_FLAG: the word lives in a MAP_SHARED file
// mapping, and a shared futex is keyed on (inode, page, offset), so a wake in one process reaches
// a waiter in another whatever address each mapped the file at.
//
// Memory ordering lives entirely in the atomics on the state word; the futex only decides when to
// look again. Header fields are read and written as relaxed atomics: they are ordered by the state
// transitions around them, and a hostile peer that writes them out of turn causes a torn value we
// validate, never undefined behaviour in our process.
#pragma once

#include <atomic>
#include <cstdint>

#include "shmem_layout.h"

namespace ensight::shmem {

// The word value for a state with zero pad, and the state inside a word, in native byte order.
constexpr uint32_t word_of(uint8_t state) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return state;
#else
  return uint32_t{state} << 24;
#endif
}
constexpr uint8_t state_of(uint32_t word) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return static_cast<uint8_t>(word & 0xff);
#else
  return static_cast<uint8_t>(word >> 24);
#endif
}

class StateWord {
 public:
  explicit StateWord(uint8_t* header)
      : raw_(reinterpret_cast<uint32_t*>(header + kStateOffset)), word_(*raw_) {}

  // acquire: a state that hands us ownership (2 for the client, 0 for the server) must also hand
  // us everything the previous owner wrote before its release store (header + payload for 2;
  // for 0, the client's reads of the payload are complete, so our writes cannot race them).
  uint32_t load() const { return word_.load(std::memory_order_acquire); }

  // relaxed: a re-check after an acquire fence (see seqlock_recheck in the consumer), or a value
  // that only chooses where to sleep; it grants nothing by itself.
  uint32_t peek() const { return word_.load(std::memory_order_relaxed); }

  // release: the store that gives the buffer away (2 by the server, 0 by the client, 4 -> 0 on
  // attach, 4 at init) publishes every write we made while we owned it.
  void hand_over(uint8_t state) { word_.store(word_of(state), std::memory_order_release); }

  // relaxed: 0 -> 1 by the server. While 0 the server already owns the buffer (its acquire load
  // saw 0); 1 only tells the client "being written", and the fence after it (claim_fence) orders
  // it before the header writes so a client that sees a new header also sees 1.
  void mark_writing() { word_.store(word_of(kServerWriting), std::memory_order_relaxed); }

  // relaxed: 1 -> 0 by the server giving up a claim. The buffer never left the server, so there
  // is nothing to publish.
  void mark_free() { word_.store(word_of(kServerOwns), std::memory_order_relaxed); }

  // acq_rel CAS, for the two transitions that another thread of our own side could contend for.
  // 2 -> 3 (client lock): the successful CAS is the read that grants ownership, so acquire, as in
  // load(). 4 -> 0 (client attach): the CAS hands the buffer to the server, so release. One
  // ordering serves both. On failure `expected` receives the current word (acquire).
  bool take(uint32_t& expected, uint8_t desired) {
    return word_.compare_exchange_strong(expected, word_of(desired), std::memory_order_acq_rel,
                                         std::memory_order_acquire);
  }

  // The word in the mapping, for the futex (not &word_: that is the atomic_ref object itself).
  uint32_t* address() const { return raw_; }

 private:
  uint32_t* raw_;
  std::atomic_ref<uint32_t> word_;
};

// Relaxed atomic access to the u32 geometry fields (see the file comment for why relaxed).
BlockHeader load_header(const uint8_t* header);
void store_header(uint8_t* header, const BlockHeader& geometry);

// Orders the server's 0 -> 1 before the header writes that follow it (release fence), and the
// client's header reads before its re-check of the states (acquire fence): the seqlock pairing
// that makes the consumer's choice of futex word reliable (see Consumer::wait_ready).
inline void claim_fence() { std::atomic_thread_fence(std::memory_order_release); }
inline void recheck_fence() { std::atomic_thread_fence(std::memory_order_acquire); }

// FUTEX_WAIT (shared) while *word == expected, at most timeout_ns. Returns 0 when woken, EAGAIN
// when the value already differed, ETIMEDOUT on timeout, EINTR on a signal: callers re-check the
// state either way (the consumer tells a wake from a timeout to learn whether its producer wakes).
int futex_wait_shared(uint32_t* word, uint32_t expected, int64_t timeout_ns);
// Not a result of futex_wait_shared: no sleep happened.
inline constexpr int kNotSlept = -1;
// FUTEX_WAKE (shared), every waiter: the consumer's sync wait and its async waiter thread may
// both sleep on the same word.
void futex_wake_shared(uint32_t* word);

// CLOCK_MONOTONIC in nanoseconds: one clock for both processes on this machine.
int64_t monotonic_now_ns();

}  // namespace ensight::shmem
