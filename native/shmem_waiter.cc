#include "shmem_waiter.h"

namespace ensight::shmem {

Status ReadyWaiter::start() {
  if (pthread_create(&thread_, nullptr, &ReadyWaiter::run, this) != 0) return Status::kThreadCreateError;
  joined_ = false;
  return Status::kOk;
}

void ReadyWaiter::request(int64_t deadline_ns) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    deadline_ns_ = deadline_ns;
    has_request_ = true;
  }
  wake_.notify_one();
}

void ReadyWaiter::stop() {
  if (joined_) return;
  cancel_.store(true, std::memory_order_release);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  consumer_->wake_all();  // out of the futex, whichever word the thread sleeps on
  pthread_join(thread_, nullptr);
  joined_ = true;
}

void* ReadyWaiter::run(void* self) {
  static_cast<ReadyWaiter*>(self)->loop();
  return nullptr;
}

void ReadyWaiter::loop() {
  for (;;) {
    int64_t deadline;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return has_request_ || stop_; });
      if (stop_) return;
      has_request_ = false;
      deadline = deadline_ns_;
    }
    const Status status = consumer_->wait_ready(deadline, &cancel_);
    if (status == Status::kUnconnected) return;  // cancelled: the owner settles what was pending
    deliver_(context_, status);
  }
}

}  // namespace ensight::shmem
