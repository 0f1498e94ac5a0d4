#pragma once
// The chunk table the histogram op builds (full chunks of each tensor, then its tail), for the
// host-side schedule tests.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "histogram_math.h"  // kernels/

namespace trainscope::kernels::test_support {

inline std::vector<histogram_math::HistogramChunk> chunks_of(const std::vector<int64_t>& numels) {
  namespace hm = histogram_math;
  std::vector<hm::HistogramChunk> chunks;
  for (std::size_t t = 0; t < numels.size(); ++t)
    for (int64_t b = 0; b < numels[t]; b += hm::kHistogramChunkElements)
      chunks.push_back({b, std::min(numels[t], b + hm::kHistogramChunkElements), int32_t(t), 0});
  return chunks;
}

}  // namespace trainscope::kernels::test_support
