#pragma once
// Grid size for grid-stride kernels: as many blocks as the card keeps resident at once (from the
// occupancy calculator, so registers and shared memory are accounted for), never more than the
// work needs. A grid larger than one resident wave would leave a tail wave on part of the card.
#include <algorithm>
#include <cstdint>

#include "cuda_check.cuh"

namespace trainscope::kernels {

template <typename Kernel>
int resident_grid(Kernel kernel, int threads, std::size_t dynamic_shared_bytes, int64_t blocks_wanted) {
  int device = 0, sms = 0, per_sm = 0;
  TS_CUDA_CHECK(cudaGetDevice(&device));
  TS_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  TS_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, dynamic_shared_bytes));
  const int64_t resident = int64_t(std::max(per_sm, 1)) * sms;
  return static_cast<int>(std::max<int64_t>(1, std::min(blocks_wanted, resident)));
}

}  // namespace trainscope::kernels
