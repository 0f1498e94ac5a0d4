#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <stdexcept>
#include <vector>

#include "common/parallel.h"

namespace trainscope::detail {
namespace {

TEST(ParallelFor, CoversEveryIndexExactlyOnce) {
  for (int64_t n : {0, 1, 7, 1000, 123457}) {
    std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
    parallel_for(n, 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[std::size_t(i)]++;
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[std::size_t(i)].load(), 1) << "n=" << n << " i=" << i;
  }
}

TEST(ParallelFor, NestedCallsRunInline) {
  std::atomic<int64_t> total{0};
  parallel_for(64, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      parallel_for(100, 1, [&](int64_t b2, int64_t e2) { total += e2 - b2; });
    }
  });
  EXPECT_EQ(total.load(), 6400);
}

TEST(ParallelFor, ExceptionsReachTheCaller) {
  EXPECT_THROW(parallel_for(1000, 1,
                            [](int64_t b, int64_t) {
                              if (b > 0) throw std::runtime_error("boom");
                            }),
               std::runtime_error);
  // The pool still works afterwards.
  std::atomic<int64_t> n{0};
  parallel_for(1000, 1, [&](int64_t b, int64_t e) { n += e - b; });
  EXPECT_EQ(n.load(), 1000);
}

// Installs an executor for one test and restores the built-in pool afterwards.
struct ScopedExecutor {
  explicit ScopedExecutor(CpuExecutor e) { set_cpu_executor(std::move(e)); }
  ~ScopedExecutor() { set_cpu_executor({}); }
};

TEST(CpuExecutor, InstalledExecutorRunsTheTasks) {
  const int pool_size = cpu_threads();
  std::atomic<int> runs{0}, tasks_run{0};
  {
    // Runs the tasks one after another on the calling thread: correct, only slower.
    ScopedExecutor scoped({[] { return 3; },
                           [&](int tasks, const std::function<void(int)>& task) {
                             ++runs;
                             for (int i = 0; i < tasks; ++i, ++tasks_run) task(i);
                           }});
    EXPECT_EQ(cpu_threads(), 3);
    std::vector<std::atomic<int>> hits(5000);
    parallel_for(5000, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[std::size_t(i)]++;
    });
    for (std::size_t i = 0; i < hits.size(); ++i) ASSERT_EQ(hits[i].load(), 1) << i;
    EXPECT_EQ(runs.load(), 1);
    EXPECT_EQ(tasks_run.load(), 12);  // 4 ranges per thread of the executor's concurrency

    // A task's exception reaches the caller even though the executor knows nothing of it.
    EXPECT_THROW(parallel_for(100, 1,
                              [](int64_t b, int64_t) {
                                if (b > 0) throw std::runtime_error("boom");
                              }),
                 std::runtime_error);
  }
  // Restored: the pool again.
  EXPECT_EQ(cpu_threads(), pool_size);
  const int before = runs.load();
  std::atomic<int64_t> n{0};
  parallel_for(1000, 1, [&](int64_t b, int64_t e) { n += e - b; });
  EXPECT_EQ(n.load(), 1000);
  EXPECT_EQ(runs.load(), before);
}

TEST(CpuExecutor, AnExecutorWithAnEmptyMemberRestoresThePool) {
  const int pool_size = cpu_threads();
  set_cpu_executor({[pool_size] { return pool_size + 5; }, nullptr});
  EXPECT_EQ(cpu_threads(), pool_size);
  std::atomic<int64_t> n{0};
  parallel_for(1000, 1, [&](int64_t b, int64_t e) { n += e - b; });
  EXPECT_EQ(n.load(), 1000);
}

}  // namespace
}  // namespace trainscope::detail
