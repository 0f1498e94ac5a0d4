// The histogram op split at its pass boundary (src/ops/histogram_parts.h), as the sharded
// histograms use it: shards' pass-1 records merged, pass 2 with the merged range, summed counts.
// Reference: the single-process op on the concatenated data (docs/distributed.md#histograms).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "ops/histogram_parts.h"  // src/
#include "trainscope/ops/histogram.h"

namespace trainscope {
namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

template <typename T>
TensorView view(std::vector<T>& v, DType dtype) {
  return TensorView::contiguous(v.data(), dtype, {int64_t(v.size())});
}

// Shards [cuts[i], cuts[i + 1]) of `all`, histogrammed as ranks would.
template <typename T>
HistogramResult sharded(std::vector<T>& all, DType dtype, const std::vector<std::size_t>& cuts, int bins) {
  std::vector<std::vector<T>> shards;
  for (std::size_t i = 0; i + 1 < cuts.size(); ++i) shards.emplace_back(all.begin() + cuts[i], all.begin() + cuts[i + 1]);
  detail::HistogramPass1 global;
  for (auto& s : shards) detail::merge_pass1(global, detail::histogram_pass1({view(s, dtype)}).at(0));
  std::vector<uint64_t> counts(static_cast<std::size_t>(bins), 0);
  double centered = 0;
  for (auto& s : shards) {
    std::vector<uint64_t> c(static_cast<std::size_t>(bins), 0);
    double q = 0;
    detail::histogram_pass2({view(s, dtype)}, {global}, bins, c.data(), &q);
    for (int b = 0; b < bins; ++b) counts[std::size_t(b)] += c[std::size_t(b)];
    centered += q;
  }
  return detail::histogram_result(global, counts.data(), centered, bins);
}

template <typename T>
void expect_same_as_op(std::vector<T>& all, DType dtype, const std::vector<std::size_t>& cuts, int bins) {
  const HistogramResult got = sharded(all, dtype, cuts, bins);
  HistogramOptions o;
  o.bins = bins;
  const HistogramResult ref = histograms({view(all, dtype)}, o).at(0);
  EXPECT_EQ(got.counts, ref.counts);
  EXPECT_EQ(got.edges, ref.edges);
  EXPECT_EQ(got.stats.count, ref.stats.count);
  EXPECT_EQ(got.stats.nan_count, ref.stats.nan_count);
  EXPECT_EQ(got.stats.pos_inf_count, ref.stats.pos_inf_count);
  EXPECT_EQ(got.stats.neg_inf_count, ref.stats.neg_inf_count);
  EXPECT_EQ(got.stats.min, ref.stats.min);
  EXPECT_EQ(got.stats.max, ref.stats.max);
  auto near = [](double a, double b) {  // summation order only
    if (!std::isfinite(b)) return !std::isfinite(a);
    return std::fabs(a - b) <= 1e-9 * std::fmax(std::fabs(a), std::fabs(b)) + 1e-300;
  };
  EXPECT_PRED2(near, got.stats.sum, ref.stats.sum);
  EXPECT_PRED2(near, got.stats.sum_squares, ref.stats.sum_squares);
  EXPECT_PRED2(near, got.stats.std, ref.stats.std);
}

TEST(HistogramParts, RandomUnevenShardsWithAnEmptyOne) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  std::vector<float> all(50000);
  for (auto& v : all) v = normal(rng);
  for (int bins : {1, 7, 64, 512}) expect_same_as_op(all, DType::Float32, {0, 0, 17, 30000, 50000}, bins);
}

TEST(HistogramParts, NonFiniteValuesInOneShardOnly) {
  std::vector<double> all = {1, 2, 3, 4, 5, kNaN, kInf, -kInf, 6, -0.0, 0.0};
  expect_same_as_op(all, DType::Float64, {0, 5, 8, 11}, 4);
}

TEST(HistogramParts, ConstantShardAndConstantTensor) {
  std::vector<float> all(1000, 2.5f);
  expect_same_as_op(all, DType::Float32, {0, 400, 1000}, 16);  // one bin
  for (int i = 0; i < 400; ++i) all[std::size_t(i)] = float(i) / 400.0f;
  expect_same_as_op(all, DType::Float32, {0, 400, 1000}, 16);
}

TEST(HistogramParts, NoFiniteValues) {
  std::vector<double> all = {kNaN, kInf, kNaN};
  const HistogramResult r = sharded(all, DType::Float64, {0, 1, 3}, 8);
  EXPECT_TRUE(r.counts.empty());
  EXPECT_EQ(r.stats.nan_count, 2);
  expect_same_as_op(all, DType::Float64, {0, 1, 3}, 8);
}

TEST(HistogramParts, DegenerateScalesOfTheBinRule) {
  // hi − lo overflows: the halved rule. Values chosen so that no partial sum overflows (which
  // would make the sum depend on the order beyond rounding).
  std::vector<double> wide = {-1.7976931348623157e308, 0, 1e307, -1e307, 1.7976931348623157e308};
  expect_same_as_op(wide, DType::Float64, {0, 2, 5}, 8);
  std::vector<double> tiny = {0, 1e-311, 3e-311, 5e-311, 1e-310};
  expect_same_as_op(tiny, DType::Float64, {0, 1, 5}, 8);  // a span of subnormals
}

TEST(HistogramParts, HalfPrecisionAndIntegers) {
  std::mt19937 rng(3);
  std::vector<uint16_t> halves(4099);
  for (auto& h : halves) h = uint16_t(rng() & 0xffff);  // every bit pattern: NaN, Inf, subnormals
  expect_same_as_op(halves, DType::Float16, {0, 1000, 4099}, 32);
  expect_same_as_op(halves, DType::BFloat16, {0, 3000, 4099}, 32);
  std::vector<int64_t> ints(3001);
  for (auto& v : ints) v = int64_t(rng() % 2001) - 1000;
  expect_same_as_op(ints, DType::Int64, {0, 1500, 1500, 3001}, 10);
}

}  // namespace
}  // namespace trainscope
