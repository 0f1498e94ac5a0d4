#pragma once
// The CPU path of the histogram op: the same two passes as the CUDA kernels over the same chunk
// table, filling the same accumulator records with the same bin arithmetic (see
// kernels/histogram_math.h), on the CPU pool or the installed CpuExecutor. Contiguous fp32, fp16
// and bf16 tensors go through AVX-512 kernels where the CPU has them (histogram_cpu_avx512.h).
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
