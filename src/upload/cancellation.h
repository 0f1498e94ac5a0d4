#pragma once
// A flag that interrupts the uploader's waits (retry backoff, polling) when it is being torn down.
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace trainscope::detail {

class Cancellation {
 public:
  void cancel() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      cancelled_ = true;
    }
    wake_.notify_all();
  }
  // Wakes sleepers without cancelling (e.g. "stop requested: finish now instead of polling").
  // Set the state the predicate reads before calling this; taking the lock here makes sure a
  // sleeper between its predicate check and its wait cannot miss the wake-up.
  void nudge() {
    { std::lock_guard<std::mutex> lock(mutex_); }
    wake_.notify_all();
  }
  bool cancelled() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return cancelled_;
  }
  // Sleeps up to `seconds`, or until predicate() or cancellation; returns false when cancelled.
  template <typename Predicate>
  bool wait_for(double seconds, Predicate predicate) {
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait_for(lock, std::chrono::duration<double>(seconds),
                   [&] { return cancelled_ || predicate(); });
    return !cancelled_;
  }
  bool wait_for(double seconds) {
    return wait_for(seconds, [] { return false; });
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool cancelled_ = false;
};

}  // namespace trainscope::detail
