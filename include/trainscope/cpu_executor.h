#pragma once
// Where the CPU paths of trainscope's ops run their parallel work.
#include <functional>

namespace trainscope {

// By default the CPU ops use a pool of their own: TRAINSCOPE_NUM_THREADS threads, else one per
// core. An application whose own pool stays busy between trainscope's calls can hand that pool
// over instead, so the two never compete for the same cores. trainscope::torch does this with
// libtorch's intra-op threads when it is loaded (they spin for a while after every torch op);
// at::set_num_threads() then sets how many threads the ops use.
struct CpuExecutor {
  // How many tasks run at once.
  std::function<int()> concurrency;
  // Runs task(i) for every i in [0, tasks), concurrently where it can, and returns when all are
  // done. trainscope's tasks never wait for one another to start, so running them one after
  // another is correct too, only slower.
  std::function<void(int tasks, const std::function<void(int)>& task)> run;
};

// Installs `executor` for all later CPU work (thread-safe). One with an empty member restores the
// built-in pool.
void set_cpu_executor(CpuExecutor executor);

}  // namespace trainscope
