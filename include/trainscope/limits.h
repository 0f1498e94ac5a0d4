#pragma once
// Limits shared by layers that do not see each other: the histogram op (trainscope/ops/) produces
// what the run record (trainscope/run/) stores.

namespace trainscope {

constexpr int kDefaultHistogramBins = 64;
constexpr int kMaxHistogramBins = 512;  // bins of one histogram (op, record, TensorBoard, W&B)

}  // namespace trainscope
