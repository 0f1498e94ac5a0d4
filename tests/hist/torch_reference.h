#pragma once
// Independent references from libtorch for the histogram op: torch.histc with the op's lo/hi, and
// statistics computed by torch in double precision.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "trainscope/torch.h"

namespace trainscope::testing {

// Our counts may differ from torch.histc only by values within rounding of an interior edge
// moving to the neighbouring bin (histc computes in the tensor's precision, we in double): at
// every interior edge k, the number of values moved across it is bounded by the number of values
// that lie within a relative 1e-4 of a bin of that edge.
inline void expect_agrees_with_histc(const torch::Tensor& tensor, const HistogramResult& r,
                                     const std::string& what) {
  auto x = tensor.detach().reshape(-1).to(torch::kDouble).cpu();
  x = x.index({torch::isfinite(x)});
  ASSERT_EQ(r.stats.count, x.numel()) << what;
  if (x.numel() == 0) {
    EXPECT_TRUE(r.counts.empty()) << what;
    return;
  }
  const double lo = x.min().item<double>(), hi = x.max().item<double>();
  EXPECT_EQ(r.stats.min, lo) << what;
  EXPECT_EQ(r.stats.max, hi) << what;
  if (lo == hi) {
    EXPECT_EQ(r.counts, std::vector<int64_t>{x.numel()}) << what;
    return;
  }
  const int64_t bins = int64_t(r.counts.size());
  auto histc = tensor.detach().reshape(-1).to(torch::kFloat);
  histc = histc.index({torch::isfinite(histc)}).histc(bins, lo, hi).to(torch::kLong).cpu();
  auto position = (x - lo) * (double(bins) / (hi - lo));  // fractional bin coordinate
  auto nearest_edge = position.round();
  auto near_edge = (position - nearest_edge).abs() < 1e-4;
  int64_t running = 0;  // Σ_{b < k} (ours − histc): values that crossed edge k
  for (int64_t k = 1; k < bins; ++k) {
    running += r.counts[std::size_t(k - 1)] - histc[k - 1].item<int64_t>();
    const int64_t close = (near_edge & (nearest_edge == double(k))).sum().item<int64_t>();
    EXPECT_LE(std::abs(running), close) << what << ": edge " << k;
  }
  int64_t total = 0;
  for (auto c : r.counts) total += c;
  EXPECT_EQ(total, x.numel()) << what;
}

inline void expect_stats_match_torch(const torch::Tensor& tensor, const HistogramResult& r,
                                     const std::string& what) {
  auto all = tensor.detach().reshape(-1).to(torch::kDouble).cpu();
  EXPECT_EQ(r.stats.nan_count, torch::isnan(all).sum().item<int64_t>()) << what;
  EXPECT_EQ(r.stats.pos_inf_count, (all == INFINITY).sum().item<int64_t>()) << what;
  EXPECT_EQ(r.stats.neg_inf_count, (all == -INFINITY).sum().item<int64_t>()) << what;
  auto x = all.index({torch::isfinite(all)});
  ASSERT_EQ(r.stats.count, x.numel()) << what;
  if (x.numel() == 0) return;
  const auto close = [](double a, double b) { return std::abs(a - b) <= 1e-9 * std::max(1.0, std::abs(b)); };
  EXPECT_PRED2(close, r.stats.sum, x.sum().item<double>()) << what;
  EXPECT_PRED2(close, r.stats.sum_squares, x.square().sum().item<double>()) << what;
  EXPECT_PRED2(close, r.stats.mean, x.mean().item<double>()) << what;
  EXPECT_PRED2(close, r.stats.std, x.std(/*unbiased=*/false).item<double>()) << what;
  EXPECT_PRED2(close, r.stats.l2_norm, x.norm().item<double>()) << what;
}

}  // namespace trainscope::testing
