#pragma once
// The CPU path of the histogram op: the same two passes as the CUDA kernels over the same chunk
// table, on the CPU pool, filling the same accumulator records (see kernels/histogram_math.h).
#include <vector>

#include "histogram_math.h"  // kernels/
#include "trainscope/tensor_view.h"

namespace trainscope::detail {

// tensors: already checked (CPU, any strides); acc: one zeroed record per tensor; counts: zeroed
// tensors × bins.
void histogram_cpu(const std::vector<TensorView>& tensors,
                   const std::vector<histogram_math::HistogramChunk>& chunks, int bins,
                   histogram_math::TensorAccumulators* acc, unsigned long long* counts);

}  // namespace trainscope::detail
