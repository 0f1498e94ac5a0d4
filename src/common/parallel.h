#pragma once
// A small fixed pool for the CPU paths of the ops: the CPU path is a product path (CPU training),
// so it uses every core, without pulling in OpenMP next to libtorch's own runtime.
#include <cstdint>
#include <functional>

#include "trainscope/cpu_executor.h"

namespace trainscope::detail {

// Number of tasks the CPU paths run at once: the installed CpuExecutor's concurrency, else the
// pool's size (TRAINSCOPE_NUM_THREADS, else hardware concurrency).
int cpu_threads();

// Calls fn(begin, end) over [0, n) split into contiguous ranges of at least `grain` items, on the
// pool or the installed CpuExecutor; returns when all ranges are done. Exceptions from fn are
// rethrown on the caller's thread.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace trainscope::detail
