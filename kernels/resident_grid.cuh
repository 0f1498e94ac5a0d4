#pragma once
// Grid size for grid-stride kernels: as many blocks as the card keeps resident at once (from the
// occupancy calculator, so registers and shared memory are accounted for), never more than the
// work needs. A grid larger than one resident wave would leave a tail wave on part of the card.
// The occupancy query is made once per (kernel, device, shared bytes) and cached: the ops are
// called every step, and at ~10 µs of device work host overhead counts.
#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <tuple>

#include "cuda_check.cuh"

namespace trainscope::kernels {

template <typename Kernel>
int resident_grid(Kernel kernel, int threads, std::size_t dynamic_shared_bytes, int64_t blocks_wanted) {
  static std::mutex mutex;
  static std::map<std::tuple<const void*, int, int, std::size_t>, int64_t> resident_blocks;
  int device = 0;
  TS_CUDA_CHECK(cudaGetDevice(&device));
  const auto key = std::make_tuple(reinterpret_cast<const void*>(kernel), device, threads, dynamic_shared_bytes);
  int64_t resident = 0;
  {
    std::lock_guard<std::mutex> lock(mutex);
    const auto found = resident_blocks.find(key);
    if (found != resident_blocks.end()) resident = found->second;
  }
  if (resident == 0) {
    int sms = 0, per_sm = 0;
    TS_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    TS_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, dynamic_shared_bytes));
    resident = int64_t(std::max(per_sm, 1)) * sms;
    std::lock_guard<std::mutex> lock(mutex);
    resident_blocks[key] = resident;
  }
  return static_cast<int>(std::max<int64_t>(1, std::min(blocks_wanted, resident)));
}

}  // namespace trainscope::kernels
