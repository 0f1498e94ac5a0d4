// The float shortcut of the bin rule (histogram_math.h, fast_bin_of): wherever it returns a bin,
// that bin equals the double rule's (bin_of), checked on the CPU over random and adversarial
// floats, including values next to every bin edge; and it falls back rarely.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "histogram_math.h"  // kernels/

namespace trainscope::histogram_math {
namespace {

float float_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

struct Tally {
  int64_t fast = 0, fallback = 0;
};

// Checks one value: the shortcut never disagrees with bin_of.
void check(const BinRule& rule, const FastBinRule& fast, float v, Tally& tally, const std::string& what) {
  const int got = fast_bin_of(fast, v);
  if (!std::isfinite(v)) {
    ASSERT_EQ(got, -1) << what << " v " << v;
    return;
  }
  if (got < 0) {
    ++tally.fallback;
    return;
  }
  ++tally.fast;
  ASSERT_EQ(got, bin_of(rule, double(v))) << what << " v " << v << " lo " << rule.lo << " scale " << rule.scale;
}

// Values next to every edge of the range: the float neighbours of lo + (hi − lo)·i/B.
void check_edges(float lo, float hi, int bins, Tally& tally, const std::string& what) {
  const BinRule rule = make_bin_rule(lo, hi, bins);
  const FastBinRule fast = make_fast_bin_rule(rule);
  for (int i = 0; i <= bins; ++i) {
    const float edge = float(double(lo) + (double(hi) - double(lo)) * i / bins);
    float v = edge;
    for (int k = 0; k < 6; ++k) v = std::nextafter(v, -std::numeric_limits<float>::infinity());
    for (int k = 0; k < 12; ++k, v = std::nextafter(v, std::numeric_limits<float>::infinity())) {
      if (v >= lo && v <= hi) check(rule, fast, v, tally, what + " edge " + std::to_string(i));
    }
  }
}

TEST(HistogramFastBin, EqualsTheDoubleRuleWhereverItDecides) {
  std::mt19937 rng(11);
  Tally tally;
  const std::vector<std::pair<float, float>> ranges = {
      {-1.f, 1.f},          {-3.7f, 2.1f},   {0.f, 255.f},          {-1e-3f, 4e-3f},
      {1.f, 1.0000001f},    {-1e30f, 1e30f}, {-3.4e38f, 3.4e38f},   {1e-38f, 3e-38f},
      {-65504.f, 65504.f},  {0.f, 1e-44f},   {-1.17549435e-38f, 0.f}, {1000.f, 1000.5f}};
  for (int bins : {2, 3, 7, 64, 100, 511, 512}) {
    for (const auto& [lo, hi] : ranges) {
      const std::string what = "[" + std::to_string(lo) + ", " + std::to_string(hi) + "] bins " + std::to_string(bins);
      check_edges(lo, hi, bins, tally, what);
      const BinRule rule = make_bin_rule(lo, hi, bins);
      const FastBinRule fast = make_fast_bin_rule(rule);
      std::uniform_real_distribution<double> u(0.0, 1.0);
      for (int i = 0; i < 20000; ++i) {
        const float v = float(double(lo) + (double(hi) - double(lo)) * u(rng));
        if (v >= lo && v <= hi) check(rule, fast, v, tally, what);
      }
      check(rule, fast, lo, tally, what);
      check(rule, fast, hi, tally, what);
      check(rule, fast, -0.f, tally, what);
      check(rule, fast, std::numeric_limits<float>::quiet_NaN(), tally, what);
      check(rule, fast, std::numeric_limits<float>::infinity(), tally, what);
      check(rule, fast, -std::numeric_limits<float>::infinity(), tally, what);
    }
  }
  // Random bit patterns over random float ranges (every exponent).
  for (int r = 0; r < 300; ++r) {
    float a = float_from_bits(uint32_t(rng())), b = float_from_bits(uint32_t(rng()));
    if (!std::isfinite(a) || !std::isfinite(b) || a == b) continue;
    if (a > b) std::swap(a, b);
    a += 0.f;  // −0 → +0, as the op's statistics take it
    const int bins = 1 + int(rng() % 512);
    const BinRule rule = make_bin_rule(a, b, bins);
    const FastBinRule fast = make_fast_bin_rule(rule);
    for (int i = 0; i < 2000; ++i) {
      float v = float_from_bits(uint32_t(rng()));
      if (!(v >= a && v <= b)) v = float(double(a) + (double(b) - double(a)) * (double(rng()) / 4294967296.0));
      check(rule, fast, v, tally, "random range " + std::to_string(r));
    }
    check_edges(a, b, bins, tally, "random range " + std::to_string(r));
  }
  EXPECT_GT(tally.fast, 0);
  // Near-edge values are a large share of the checked ones by construction; random values alone
  // fall back about once in 2000 (tested below).
  EXPECT_GT(tally.fallback, 0);
}

TEST(HistogramFastBin, FallsBackRarelyOnOrdinaryData) {
  std::mt19937 rng(12);
  std::normal_distribution<float> normal(0.f, 0.05f);
  std::vector<float> values(200000);
  for (auto& v : values) v = normal(rng);
  float lo = values[0], hi = values[0];
  for (float v : values) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  const BinRule rule = make_bin_rule(lo, hi, 64);
  const FastBinRule fast = make_fast_bin_rule(rule);
  int64_t fallback = 0;
  for (float v : values) {
    const int got = fast_bin_of(fast, v);
    if (got < 0) ++fallback;
    else ASSERT_EQ(got, bin_of(rule, double(v)));
  }
  // 2·2^-12 of a unit interval per bin: about 1 in 2000, plus lo itself.
  EXPECT_LT(fallback, int64_t(values.size()) / 500);
}

TEST(HistogramFastBin, DisabledWhereTheProofDoesNotHold) {
  // A float64 range outside float: lo is not a float.
  EXPECT_EQ(make_fast_bin_rule(make_bin_rule(0.1, 0.7, 64)).bins, 0.f);
  // One distinct value: the one-bin rule.
  EXPECT_EQ(make_fast_bin_rule(make_bin_rule(2.5, 2.5, 64)).bins, 0.f);
  // A span of float subnormals: scale beyond float's range.
  EXPECT_EQ(make_fast_bin_rule(make_bin_rule(0.0, double(std::numeric_limits<float>::denorm_min()) * 3, 64)).bins, 0.f);
  // The wide rule (float64 only).
  EXPECT_EQ(make_fast_bin_rule(make_bin_rule(-1e308, 1e308, 64)).bins, 0.f);
  // A disabled shortcut decides nothing.
  const FastBinRule off = make_fast_bin_rule(make_bin_rule(0.1, 0.7, 64));
  for (float v : {0.1f, 0.3f, 0.7f}) EXPECT_EQ(fast_bin_of(off, v), -1);
  // An ordinary float range is enabled.
  EXPECT_EQ(make_fast_bin_rule(make_bin_rule(-1.0, 1.0, 64)).bins, 64.f);
}

}  // namespace
}  // namespace trainscope::histogram_math
