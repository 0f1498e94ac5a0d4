#pragma once
// The histogram op split at its pass boundary, for histograms of tensors sharded over processes
// (src/torch/distributed/sharded_histogram.cpp, docs/distributed.md): pass-1 statistics of each
// local shard, merged across shards; pass 2 with ranges given from outside; the op's own decode.
// Same arithmetic as the single-process op (kernels/histogram_math.h): the same lo/hi give the
// same bins, so merged counts equal those of the op on the concatenated tensor. CPU views only.
#include <cstdint>
#include <vector>

#include "trainscope/ops/histogram.h"
#include "trainscope/tensor_view.h"

namespace trainscope::histogram_math {
struct TensorAccumulators;
}

namespace trainscope::detail {

// Pass-1 statistics of one tensor (or shard): finite count, non-finite counts, Σv, Σv² over the
// finite values, their min and max (+Inf / −Inf when there are none, so merging ignores them).
struct HistogramPass1 {
  uint64_t count = 0, nan_count = 0, pos_inf_count = 0, neg_inf_count = 0;
  double sum = 0, sum_squares = 0;
  double min = __builtin_inf(), max = -__builtin_inf();
};

// Pass 1 of each view (CPU, any strides, the op's dtypes); throws Error like HistogramPlan.
std::vector<HistogramPass1> histogram_pass1(const std::vector<TensorView>& tensors);

// a absorbs b, as the op merges the partials of its workers.
void merge_pass1(HistogramPass1& a, const HistogramPass1& b);

// Pass 2 of each view against `global[i]` (its merged statistics): bins with the rule of
// lo = global.min, hi = global.max (`bins` wide, one used bin when lo == hi, none when
// global.count == 0), and Σ(v − global mean)². counts: tensors × bins, zeroed here;
// centered_squares: one per tensor.
void histogram_pass2(const std::vector<TensorView>& tensors, const std::vector<HistogramPass1>& global,
                     int bins, uint64_t* counts, double* centered_squares);

// The op's result record from merged statistics, counts (`bins` entries) and Σ(v − mean)².
HistogramResult histogram_result(const HistogramPass1& global, const uint64_t* counts, double centered_squares,
                                 int bins);

// The op's own decode of one tensor's accumulators and counts (src/ops/histogram.cpp).
HistogramResult decode_histogram(const histogram_math::TensorAccumulators& acc, const unsigned long long* counts,
                                 int bins);

}  // namespace trainscope::detail
