// A thread that waits for frames on another thread's behalf: it sleeps in Consumer::wait_ready
// whenever asked to, and reports each outcome through a callback, so a caller with an event loop
// (the Node-API binding) can wait for a frame without blocking that loop and without occupying a
// shared worker pool thread. The thread only waits; locking stays with the owner.
//
// Plain C++, no Node-API: the binding hands in the callback (it queues the status onto the
// JavaScript thread) and owns the lifetime rules of its runtime.
#pragma once

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "shmem_stream.h"

namespace ensight::shmem {

class ReadyWaiter {
 public:
  // Runs on the waiter thread with the status of one wait: OK (a block is ready to lock),
  // NO_FRAMEAVAILABLE (the deadline passed) or an error status. Not called for a wait that
  // stop() cancelled.
  using Deliver = void (*)(void* context, Status status);

  ReadyWaiter(Consumer* consumer, Deliver deliver, void* context)
      : consumer_(consumer), deliver_(deliver), context_(context) {}
  ~ReadyWaiter() { stop(); }
  ReadyWaiter(const ReadyWaiter&) = delete;
  ReadyWaiter& operator=(const ReadyWaiter&) = delete;

  // Starts the thread; THREAD_CREATE_ERROR when it cannot be created (nothing to stop then).
  [[nodiscard]] Status start();
  // Asks for one wait until deadline_ns (CLOCK_MONOTONIC; < 0: none). One at a time: the owner
  // asks again only after the previous outcome was delivered.
  void request(int64_t deadline_ns);
  // Cancels a wait in progress (waking it from the futex), stops the thread and joins it. Owner's
  // thread only; idempotent.
  void stop();

 private:
  static void* run(void* self);
  void loop();

  Consumer* consumer_;
  Deliver deliver_;
  void* context_;
  pthread_t thread_{};
  bool joined_ = true;  // owner's thread only: no thread to join until start() made one
  // Guarded by mutex_: the owner's request and stop, handed to the thread.
  std::mutex mutex_;
  std::condition_variable wake_;
  bool has_request_ = false;
  bool stop_ = false;
  int64_t deadline_ns_ = 0;
  // Read by wait_ready's loop between sleeps, outside mutex_. Release by stop() pairs with the
  // acquire load there: nothing is published through it, but a release/acquire pair keeps the
  // cancel from being seen before stop()'s earlier writes.
  std::atomic<bool> cancel_{false};
};

}  // namespace ensight::shmem
