#include "common/parallel.h"

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace trainscope::detail {
namespace {

// Set while a thread runs a pool task: a nested parallel_for runs inline instead of deadlocking.
thread_local bool inside_pool_task = false;

class Pool {
 public:
  explicit Pool(int threads) {
    for (int i = 0; i < threads - 1; ++i) workers_.emplace_back([this] { work(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
  }
  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs task(i) for i in [0, tasks); the calling thread takes part. One job at a time.
  void run(int tasks, const std::function<void(int)>& task) {
    std::lock_guard<std::mutex> job_lock(job_mu_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      task_ = &task;
      tasks_ = tasks;
      next_ = 0;
      pending_ = tasks;
      error_ = nullptr;
      ++generation_;
    }
    wake_.notify_all();
    drain();
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [this] { return pending_ == 0; });
    task_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void drain() {
    for (;;) {
      int i;
      const std::function<void(int)>* task;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!task_ || next_ >= tasks_) return;
        i = next_++;
        task = task_;
      }
      std::exception_ptr err;
      inside_pool_task = true;
      try {
        (*task)(i);
      } catch (...) {
        err = std::current_exception();
      }
      inside_pool_task = false;
      std::lock_guard<std::mutex> lock(mu_);
      if (err && !error_) error_ = err;
      if (--pending_ == 0) done_.notify_all();
    }
  }
  void work() {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
      }
      drain();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex job_mu_, mu_;
  std::condition_variable wake_, done_;
  const std::function<void(int)>* task_ = nullptr;
  int tasks_ = 0, next_ = 0, pending_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

int pool_threads() {
  if (const char* env = std::getenv("TRAINSCOPE_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

Pool& pool() {
  static Pool instance(pool_threads());
  return instance;
}

// The executor installed by set_cpu_executor (null: the pool), read and swapped atomically.
std::shared_ptr<const CpuExecutor>& executor_slot() {
  static std::shared_ptr<const CpuExecutor> slot;
  return slot;
}
std::shared_ptr<const CpuExecutor> current_executor() { return std::atomic_load(&executor_slot()); }

}  // namespace

int cpu_threads() {
  if (const auto executor = current_executor()) return std::max(1, executor->concurrency());
  return pool_threads();
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const auto executor = current_executor();
  const int threads = executor ? std::max(1, executor->concurrency()) : pool().size();
  const int64_t max_chunks = std::max<int64_t>(1, n / grain);
  const int chunks = static_cast<int>(std::min<int64_t>(max_chunks, int64_t(threads) * 4));
  if (chunks <= 1 || inside_pool_task) {
    fn(0, n);
    return;
  }
  const int64_t step = (n + chunks - 1) / chunks;
  // Exceptions come back to this thread whatever the executor does with them.
  std::mutex error_mutex;
  std::exception_ptr error;
  const std::function<void(int)> task = [&](int c) {
    const int64_t begin = int64_t(c) * step;
    const int64_t end = std::min(n, begin + step);
    if (begin >= end) return;
    try {
      fn(begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  };
  if (executor) executor->run(chunks, task);
  else pool().run(chunks, task);
  if (error) std::rethrow_exception(error);
}

}  // namespace trainscope::detail

namespace trainscope {

void set_cpu_executor(CpuExecutor executor) {
  std::shared_ptr<const CpuExecutor> next;
  if (executor.concurrency && executor.run) next = std::make_shared<const CpuExecutor>(std::move(executor));
  std::atomic_store(&detail::executor_slot(), std::move(next));
}

}  // namespace trainscope
