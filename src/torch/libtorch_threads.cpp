// Loading trainscope::torch hands the CPU ops libtorch's intra-op threads. After each torch op
// those threads spin for a while waiting for more work; a pool of trainscope's own would compete
// with them for the same cores. This file is built with OpenMP so that at::parallel_for's inline
// OpenMP region runs here; the process has one OpenMP runtime (the libgomp.so.1 that libtorch
// loads), so the region uses libtorch's own threads.
#include <ATen/Parallel.h>

#include "trainscope/cpu_executor.h"

#ifdef _OPENMP  // built with OpenMP (see CMakeLists.txt); otherwise at::parallel_for would be serial here
namespace {

const bool installed = [] {
  trainscope::set_cpu_executor({[] { return at::get_num_threads(); },
                                [](int tasks, const std::function<void(int)>& task) {
                                  at::parallel_for(0, tasks, 1, [&](int64_t begin, int64_t end) {
                                    for (int64_t i = begin; i < end; ++i) task(static_cast<int>(i));
                                  });
                                }});
  return true;
}();

}  // namespace
#endif
