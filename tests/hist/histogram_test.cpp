// CPU histogram op: hand-checked outputs, adversarial values, views, many tensors, bad arguments.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "support/half_reference.h"  // tests/: the reference conversion of test data
#include "support/expect_error.h"  // tests/
#include "trainscope/cpu_executor.h"
#include "trainscope/error.h"
#include "trainscope/ops/histogram.h"

namespace trainscope {
namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

TensorView view(std::vector<float>& v) {
  return TensorView::contiguous(v.data(), DType::Float32, {int64_t(v.size())});
}
TensorView view(std::vector<double>& v) {
  return TensorView::contiguous(v.data(), DType::Float64, {int64_t(v.size())});
}

HistogramResult one(const TensorView& t, int bins = kDefaultHistogramBins) {
  HistogramOptions o;
  o.bins = bins;
  auto r = histograms({t}, o);
  EXPECT_EQ(r.size(), 1u);
  return r.at(0);
}

// The binning rule of docs/ops.md#histograms written out directly, per tensor, as an independent reference.
HistogramResult reference(const std::vector<double>& values, int bins) {
  HistogramResult r;
  std::vector<double> finite;
  for (double v : values) {
    if (std::isnan(v)) ++r.stats.nan_count;
    else if (v == kInf) ++r.stats.pos_inf_count;
    else if (v == -kInf) ++r.stats.neg_inf_count;
    else finite.push_back(v);
  }
  r.stats.count = int64_t(finite.size());
  if (finite.empty()) return r;
  double lo = finite[0], hi = finite[0], sum = 0, sq = 0;
  for (double v : finite) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    sum += v;
    sq += v * v;
  }
  r.stats.min = lo;
  r.stats.max = hi;
  r.stats.sum = sum;
  r.stats.sum_squares = sq;
  r.stats.mean = sum / double(finite.size());
  double c = 0;
  for (double v : finite) c += (v - r.stats.mean) * (v - r.stats.mean);
  r.stats.std = std::sqrt(c / double(finite.size()));
  r.stats.l2_norm = std::sqrt(sq);
  if (lo == hi) {
    r.counts = {int64_t(finite.size())};
    r.edges = {lo, hi};
    return r;
  }
  r.counts.assign(std::size_t(bins), 0);
  const double scale = double(bins) / (hi - lo);
  for (double v : finite) {
    double b = std::floor((v - lo) * scale);
    b = std::min(std::max(b, 0.0), double(bins - 1));
    ++r.counts[std::size_t(b)];
  }
  for (int i = 0; i <= bins; ++i) r.edges.push_back(lo + (hi - lo) * i / bins);
  r.edges.back() = hi;  // exactly: lo + (hi − lo) can round away from hi when |lo| ≫ |hi|
  return r;
}

void expect_matches(const HistogramResult& got, const HistogramResult& want, const std::string& what) {
  EXPECT_EQ(got.counts, want.counts) << what;
  ASSERT_EQ(got.edges.size(), want.edges.size()) << what;
  for (std::size_t i = 0; i < want.edges.size(); ++i) EXPECT_DOUBLE_EQ(got.edges[i], want.edges[i]) << what;
  EXPECT_EQ(got.stats.count, want.stats.count) << what;
  EXPECT_EQ(got.stats.nan_count, want.stats.nan_count) << what;
  EXPECT_EQ(got.stats.pos_inf_count, want.stats.pos_inf_count) << what;
  EXPECT_EQ(got.stats.neg_inf_count, want.stats.neg_inf_count) << what;
  EXPECT_EQ(got.stats.min, want.stats.min) << what;
  EXPECT_EQ(got.stats.max, want.stats.max) << what;
  const auto near = [](double a, double b) { return std::abs(a - b) <= 1e-9 * std::max(1.0, std::abs(b)); };
  EXPECT_PRED2(near, got.stats.sum, want.stats.sum) << what;
  EXPECT_PRED2(near, got.stats.sum_squares, want.stats.sum_squares) << what;
  EXPECT_PRED2(near, got.stats.mean, want.stats.mean) << what;
  EXPECT_PRED2(near, got.stats.std, want.stats.std) << what;
  EXPECT_PRED2(near, got.stats.l2_norm, want.stats.l2_norm) << what;
}

TEST(Histogram, HandCheckedCountsEdgesAndStats) {
  std::vector<float> v = {0, 1, 2, 3, 4};
  const auto r = one(view(v), 4);
  // scale = 4 / 4: v lands in bin v, and hi = 4 is clamped into the last bin.
  EXPECT_EQ(r.counts, (std::vector<int64_t>{1, 1, 1, 2}));
  EXPECT_EQ(r.edges, (std::vector<double>{0, 1, 2, 3, 4}));
  EXPECT_EQ(r.stats.count, 5);
  EXPECT_EQ(r.stats.sum, 10);
  EXPECT_EQ(r.stats.sum_squares, 30);
  EXPECT_EQ(r.stats.min, 0);
  EXPECT_EQ(r.stats.max, 4);
  EXPECT_DOUBLE_EQ(r.stats.mean, 2);
  EXPECT_DOUBLE_EQ(r.stats.std, std::sqrt(2.0));  // population: (4+1+0+1+4)/5
  EXPECT_DOUBLE_EQ(r.stats.l2_norm, std::sqrt(30.0));
}

TEST(Histogram, ValuesOnInnerEdgesGoUp) {
  std::vector<double> v = {-1, -0.5, 0, 0.5, 1, 0.25};
  const auto r = one(view(v), 4);  // edges -1, -0.5, 0, 0.5, 1
  EXPECT_EQ(r.counts, (std::vector<int64_t>{1, 1, 2, 2}));
  EXPECT_EQ(r.edges, (std::vector<double>{-1, -0.5, 0, 0.5, 1}));
}

TEST(Histogram, NonFiniteValuesAreCountedApart) {
  std::vector<float> v = {float(kNaN), float(kInf), float(-kInf), 1, 2, float(kNaN), float(kInf)};
  const auto r = one(view(v), 2);
  EXPECT_EQ(r.stats.count, 2);
  EXPECT_EQ(r.stats.nan_count, 2);
  EXPECT_EQ(r.stats.pos_inf_count, 2);
  EXPECT_EQ(r.stats.neg_inf_count, 1);
  EXPECT_EQ(r.counts, (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(r.edges, (std::vector<double>{1, 1.5, 2}));
  EXPECT_EQ(r.stats.sum, 3);
  EXPECT_DOUBLE_EQ(r.stats.std, 0.5);
}

TEST(Histogram, AllNaNGivesStatisticsOnly) {
  std::vector<float> v(100, float(kNaN));
  v[7] = float(-kInf);
  const auto r = one(view(v));
  EXPECT_EQ(r.stats.count, 0);
  EXPECT_EQ(r.stats.nan_count, 99);
  EXPECT_EQ(r.stats.neg_inf_count, 1);
  EXPECT_TRUE(r.counts.empty());
  EXPECT_TRUE(r.edges.empty());
  EXPECT_EQ(r.stats.min, 0);
  EXPECT_EQ(r.stats.max, 0);
  EXPECT_EQ(r.stats.mean, 0);
}

TEST(Histogram, ConstantTensorIsOneBin) {
  std::vector<float> v(40000, 2.5f);  // spans three chunks
  v[5] = float(kNaN);
  const auto r = one(view(v), 16);
  EXPECT_EQ(r.counts, (std::vector<int64_t>{39999}));
  EXPECT_EQ(r.edges, (std::vector<double>{2.5, 2.5}));
  EXPECT_EQ(r.stats.std, 0);
  EXPECT_EQ(r.stats.mean, 2.5);
}

TEST(Histogram, EmptyAndOneElementTensors) {
  std::vector<float> single = {-7};
  std::vector<float> other = {1, 2};
  auto empty = TensorView::contiguous(nullptr, DType::Float32, {3, 0});
  const auto r = histograms({empty, view(single), TensorView::contiguous(nullptr, DType::Float16, {0}), view(other)});
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].stats.count, 0);
  EXPECT_TRUE(r[0].counts.empty());
  EXPECT_EQ(r[1].counts, (std::vector<int64_t>{1}));
  EXPECT_EQ(r[1].edges, (std::vector<double>{-7, -7}));
  EXPECT_EQ(r[1].stats.l2_norm, 7);
  EXPECT_EQ(r[2].stats.count, 0);
  EXPECT_EQ(r[3].stats.count, 2);
  EXPECT_EQ(r[3].counts.size(), std::size_t(kDefaultHistogramBins));
  EXPECT_EQ(r[3].counts.front(), 1);
  EXPECT_EQ(r[3].counts.back(), 1);
}

TEST(Histogram, Denormals) {
  const float d = std::numeric_limits<float>::denorm_min();
  std::vector<float> v = {0, d, 2 * d, -0.0f};
  const auto r = one(view(v), 2);
  EXPECT_EQ(r.stats.min, 0);
  EXPECT_FALSE(std::signbit(r.stats.min));  // −0 and +0 are the same minimum
  EXPECT_EQ(r.stats.max, double(2 * d));
  // scale = 2 / (2d): d lands exactly on the middle edge, 2d is clamped into the last bin.
  EXPECT_EQ(r.counts, (std::vector<int64_t>{2, 2}));
}

TEST(Histogram, ValuesNearFloatMaxDoNotOverflow) {
  const float m = std::numeric_limits<float>::max();
  std::vector<float> v = {-m, m, 0, m / 2};
  const auto r = one(view(v), 4);
  // hi − lo = 2·FLT_MAX overflows float but not double: edges −m, −m/2, 0, m/2, m.
  EXPECT_EQ(r.counts, (std::vector<int64_t>{1, 0, 1, 2}));
  EXPECT_EQ(r.edges[0], -double(m));
  EXPECT_EQ(r.edges[2], 0.0);
  EXPECT_EQ(r.edges[4], double(m));
  EXPECT_TRUE(std::isfinite(r.stats.sum_squares));
  EXPECT_DOUBLE_EQ(r.stats.l2_norm, std::sqrt(2.25) * double(m));
}

TEST(Histogram, Float64RangeWiderThanDoubleMax) {
  const double m = std::numeric_limits<double>::max();
  std::vector<double> v = {-m, m, 0, 1};
  const auto r = one(view(v), 2);
  // hi − lo overflows double; the halved rule still puts 0 on the middle edge (it goes up).
  EXPECT_EQ(r.counts, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(r.edges, (std::vector<double>{-m, 0, m}));
  std::vector<double> w = {-m / 2.5, m / 2.5, 0};  // finite width, but 2 / width is subnormal
  const auto r2 = one(view(w), 2);
  EXPECT_EQ(r2.counts, (std::vector<int64_t>{1, 2}));
}

TEST(Histogram, Float64SpanOfSubnormals) {
  // [0, ~1e-310]: bins / (hi − lo) overflows to +Inf, which once put every value above lo in the
  // last bin. Subnormals are integer multiples of 2^-1074, so the exact bins follow from integer
  // arithmetic: floor((m − m_lo) · B / (m_hi − m_lo)), clamped to B − 1.
  const double unit = std::numeric_limits<double>::denorm_min();
  const int64_t m_hi = 20240000000000;  // 20240000000000 · 2^-1074 ≈ 1.0e-310
  std::mt19937_64 rng(1234);
  std::uniform_int_distribution<int64_t> pick(0, m_hi);
  std::vector<int64_t> m = {0, m_hi, m_hi / 2, m_hi / 64, m_hi / 64 - 1};
  for (int i = 0; i < 5000; ++i) m.push_back(pick(rng));
  std::vector<double> v;
  for (int64_t k : m) v.push_back(double(k) * unit);  // exact: k < 2^53
  const int bins = 64;
  std::vector<int64_t> want(bins, 0);
  for (int64_t k : m) ++want[std::size_t(std::min<int64_t>(k * bins / m_hi, bins - 1))];
  const auto r = one(view(v), bins);
  EXPECT_EQ(r.counts, want);
  EXPECT_EQ(r.edges.front(), 0.0);
  EXPECT_EQ(r.edges.back(), double(m_hi) * unit);
  EXPECT_LT(r.counts.back(), int64_t(m.size()) / 8) << "values piled into the last bin";
}

uint16_t float_to_bf16_bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return uint16_t(b >> 16);
}
float bf16_bits_to_float(uint16_t h) {
  const uint32_t b = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

TEST(Histogram, HalfExtremes) {
  // 65504 (max), -65504, 2^-24 (smallest subnormal), 1.0, NaN, +Inf, -Inf, -0.
  std::vector<uint16_t> h = {0x7bff, 0xfbff, 0x0001, 0x3c00, 0x7e00, 0x7c00, 0xfc00, 0x8000};
  const auto r = one(TensorView::contiguous(h.data(), DType::Float16, {int64_t(h.size())}), 2);
  EXPECT_EQ(r.stats.count, 5);
  EXPECT_EQ(r.stats.nan_count, 1);
  EXPECT_EQ(r.stats.pos_inf_count, 1);
  EXPECT_EQ(r.stats.neg_inf_count, 1);
  EXPECT_EQ(r.stats.min, -65504.0);
  EXPECT_EQ(r.stats.max, 65504.0);
  EXPECT_EQ(r.stats.sum, 1.0 + std::ldexp(1.0, -24));
  // −65504 | −0, 2^-24, 1, 65504: zero sits exactly on the middle edge and goes up.
  EXPECT_EQ(r.counts, (std::vector<int64_t>{1, 4}));
}

TEST(Histogram, BFloat16Extremes) {
  // Largest finite, its negative, the smallest subnormal, NaN, +Inf.
  std::vector<uint16_t> b = {0x7f7f, 0xff7f, 0x0001, 0x7fc0, 0x7f80, float_to_bf16_bits(3.0f)};
  const auto r = one(TensorView::contiguous(b.data(), DType::BFloat16, {int64_t(b.size())}), 8);
  EXPECT_EQ(r.stats.count, 4);
  EXPECT_EQ(r.stats.nan_count, 1);
  EXPECT_EQ(r.stats.pos_inf_count, 1);
  EXPECT_EQ(r.stats.max, double(bf16_bits_to_float(0x7f7f)));
  EXPECT_EQ(r.stats.min, -double(bf16_bits_to_float(0x7f7f)));
  EXPECT_EQ(r.stats.min, -3.3895313892515355e38);
  EXPECT_EQ(r.counts[0], 1);
  EXPECT_EQ(r.counts[4], 2);  // tiny positives sit on the middle edge
  EXPECT_EQ(r.counts[7], 1);
}

TEST(Histogram, IntegerAndBoolTypesAreConvertedToDouble) {
  std::vector<int64_t> i64 = {-(int64_t(1) << 40), 0, 3};
  std::vector<uint8_t> u8 = {0, 255, 255, 7};
  std::vector<uint8_t> flags = {1, 0, 1, 1};  // bool storage
  std::vector<int16_t> i16 = {-32768, 32767};
  const auto r = histograms({TensorView::contiguous(i64.data(), DType::Int64, {3}),
                             TensorView::contiguous(u8.data(), DType::UInt8, {4}),
                             TensorView::contiguous(flags.data(), DType::Bool, {4}),
                             TensorView::contiguous(i16.data(), DType::Int16, {2})},
                            {2});
  EXPECT_EQ(r[0].stats.min, -std::ldexp(1.0, 40));
  EXPECT_EQ(r[0].counts, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(r[1].stats.sum, 517);
  EXPECT_EQ(r[1].counts, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(r[2].stats.sum, 3);
  EXPECT_EQ(r[2].counts, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(r[3].edges, (std::vector<double>{-32768, -0.5, 32767}));
}

TEST(Histogram, NonContiguousViewsReadOnlyTheirElements) {
  // A 4×6 buffer; the view takes rows 0..3 step 1, columns 0, 2, 4 (strides {6, 2}) transposed.
  std::vector<float> buffer(24);
  for (int i = 0; i < 24; ++i) buffer[std::size_t(i)] = (i % 2) ? 1e30f : float(i);  // odd columns must be skipped
  TensorView strided;
  strided.data = buffer.data();
  strided.dtype = DType::Float32;
  strided.shape = {3, 4};
  strided.strides = {2, 6};
  std::vector<double> expected_values;
  for (int c = 0; c < 3; ++c)
    for (int row = 0; row < 4; ++row) expected_values.push_back(buffer[std::size_t(row * 6 + 2 * c)]);
  ASSERT_FALSE(strided.is_contiguous());
  expect_matches(one(strided, 5), reference(expected_values, 5), "strided");
  EXPECT_EQ(one(strided, 5).stats.max, 22);
}

TEST(Histogram, ThousandsOfTinyTensorsMatchTheReference) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<std::vector<float>> data(3000);
  std::vector<TensorView> views;
  for (std::size_t i = 0; i < data.size(); ++i) {
    data[i].resize(i % 9);
    for (auto& x : data[i]) x = normal(rng) * float(i % 5 + 1);
    if (i % 11 == 0 && !data[i].empty()) data[i][0] = float(kNaN);
    views.push_back(view(data[i]));
  }
  const auto r = histograms(views, {7});
  ASSERT_EQ(r.size(), data.size());
  for (std::size_t i = 0; i < data.size(); ++i) {
    expect_matches(r[i], reference(std::vector<double>(data[i].begin(), data[i].end()), 7),
                   "tensor " + std::to_string(i));
  }
}

TEST(Histogram, LargeMixedListMatchesTheReference) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> uniform(-3, 5);
  std::vector<float> big(1 << 20);  // 64 chunks: merges across workers
  for (auto& x : big) x = float(uniform(rng));
  big[12345] = float(kInf);
  std::vector<double> wide(70001);
  for (auto& x : wide) x = uniform(rng) * 1e100;
  std::vector<uint16_t> halves(50000);
  for (auto& h : halves) h = float_to_bf16_bits(float(uniform(rng)));
  const auto r = histograms({view(big), view(wide), TensorView::contiguous(halves.data(), DType::BFloat16, {50000})},
                            {kMaxHistogramBins});
  std::vector<double> bf;
  for (auto h : halves) bf.push_back(bf16_bits_to_float(h));
  expect_matches(r[0], reference(std::vector<double>(big.begin(), big.end()), kMaxHistogramBins), "fp32");
  expect_matches(r[1], reference(wide, kMaxHistogramBins), "fp64");
  expect_matches(r[2], reference(bf, kMaxHistogramBins), "bf16");
}

// Sets an environment variable for the scope of a test (each ctest test is its own process).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (had_) ::setenv(name_, old_.c_str(), 1);
    else ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

// Contiguous fp32, fp16 and bf16 tensors take the AVX-512 kernels where the CPU has them, and the
// scalar visitors with TRAINSCOPE_CPU_SIMD=0. Both must equal the reference (counts, edges, extremes
// bit for bit) at every length around the kernels' 16-element steps and 128-element blocks,
// from unaligned starts, with non-finite values, signed zeros, subnormals and values on bin edges.
TEST(Histogram, VectorKernelsAndScalarPathMatchTheReference) {
  std::mt19937 rng(23);
  std::normal_distribution<float> normal(0.f, 0.05f);
  std::uniform_int_distribution<int> bits16(0, 0xffff);
  const std::vector<int64_t> lengths = {1, 2, 15, 16, 17, 127, 128, 129, 255, 1000, 16383, 16384, 16385, 50003};
  const std::vector<DType> dtypes = {DType::Float32, DType::Float16, DType::BFloat16};
  int cases = 0;
  for (DType dtype : dtypes) {
    for (int64_t length : lengths) {
      for (int64_t offset : {0, 1, 3}) {  // elements before the view's first: unaligned starts
        const int pattern = static_cast<int>((length + offset) % 4);
        std::vector<float> f32(std::size_t(length + offset));
        std::vector<uint16_t> u16(f32.size());
        for (std::size_t i = 0; i < f32.size(); ++i) {
          if (dtype == DType::Float32) {
            f32[i] = pattern == 3 ? float(i % 65) : normal(rng);  // pattern 3: every value on a bin edge
          } else {
            // Random finite bit patterns, normal and subnormal, of both signs (exponent 0x1f is
            // Inf/NaN in fp16; bf16 keeps its exponent ≤ 0xfe the same way).
            uint16_t b = uint16_t(bits16(rng));
            if (dtype == DType::Float16 && ((b >> 10) & 0x1f) == 0x1f) b &= 0xbfff;
            if (dtype == DType::BFloat16 && ((b >> 7) & 0xff) == 0xff) b &= 0xbfff;
            u16[i] = b;
          }
        }
        auto element = [&](std::size_t i) {
          if (dtype == DType::Float32) return double(f32[i]);
          if (dtype == DType::Float16) return double(test_support::float16_reference(u16[i]));
          return double(test_support::bfloat16_reference(u16[i]));
        };
        auto set = [&](std::size_t i, float v, uint16_t half, uint16_t bf16) {
          f32[i] = v;
          u16[i] = dtype == DType::Float16 ? half : bf16;
        };
        const std::size_t first = std::size_t(offset), last = f32.size() - 1, middle = first + std::size_t(length / 2);
        if (pattern == 1) {  // NaN in the middle, −Inf first, +Inf last (in the body or the tail)
          set(middle, float(kNaN), 0x7e00, 0x7fc0);
          set(first, float(-kInf), 0xfc00, 0xff80);
          set(last, float(kInf), 0x7c00, 0x7f80);
        } else if (pattern == 2) {  // non-negative values with −0 first: the minimum is +0
          for (std::size_t i = first; i <= last; ++i) {
            f32[i] = std::fabs(f32[i]);
            u16[i] &= 0x7fff;
          }
          set(first, -0.0f, 0x8000, 0x8000);
          if (dtype == DType::Float32 && last > first) f32[last] = 1e-40f;  // a float subnormal
        }
        const void* data = dtype == DType::Float32 ? static_cast<const void*>(f32.data() + offset)
                                                   : static_cast<const void*>(u16.data() + offset);
        const TensorView t = TensorView::contiguous(const_cast<void*>(data), dtype, {length});
        std::vector<double> values;
        for (std::size_t i = first; i <= last; ++i) values.push_back(element(i));
        for (int bins : {1, 7, 64, 65}) {
          const std::string what = "dtype " + std::to_string(int(dtype)) + " length " + std::to_string(length) +
                                    " offset " + std::to_string(offset) + " bins " + std::to_string(bins);
          const HistogramResult want = reference(values, bins);
          const HistogramResult vector_path = one(t, bins);
          HistogramResult scalar_path;
          {
            ScopedEnv off("TRAINSCOPE_CPU_SIMD", "0");
            scalar_path = one(t, bins);
          }
          expect_matches(vector_path, want, what + " (default path)");
          expect_matches(scalar_path, want, what + " (scalar path)");
          EXPECT_EQ(std::signbit(vector_path.stats.min), std::signbit(scalar_path.stats.min)) << what;
          ++cases;
        }
      }
    }
  }
  EXPECT_EQ(cases, 3 * 14 * 3 * 4);
}

// The CPU path's workers wait only for items other workers already hold, so an executor that
// runs its tasks one after another (or a single-threaded pool) still finishes, with the same
// results as the real pool.
TEST(Histogram, SerialExecutorFinishesWithTheSameResults) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<std::vector<float>> data;
  std::vector<TensorView> views;
  for (int64_t n : {int64_t(1) << 20, int64_t(3), int64_t(70000), int64_t(0), int64_t(16384)}) {
    data.emplace_back(std::size_t(n));
    for (auto& x : data.back()) x = normal(rng);
  }
  for (auto& d : data) views.push_back(view(d));
  const auto pooled = histograms(views, {64});
  set_cpu_executor({[] { return 4; },
                    [](int tasks, const std::function<void(int)>& task) {
                      for (int i = 0; i < tasks; ++i) task(i);
                    }});
  const auto serial = histograms(views, {64});
  set_cpu_executor({});
  ASSERT_EQ(serial.size(), pooled.size());
  for (std::size_t i = 0; i < data.size(); ++i) {
    expect_matches(serial[i], reference(std::vector<double>(data[i].begin(), data[i].end()), 64),
                   "serial " + std::to_string(i));
    EXPECT_EQ(serial[i].counts, pooled[i].counts) << i;
  }
}

TEST(HistogramPlan, ReusedWithNewDataAndDtypes) {
  std::vector<float> a = {1, 2, 3, 4};
  std::vector<double> b = {10, 10, 10, 20};
  HistogramPlan plan({view(a)}, {2});
  EXPECT_THROW(plan.results(), Error);  // nothing enqueued yet
  plan.enqueue({view(a)});
  EXPECT_TRUE(plan.ready());
  EXPECT_EQ(plan.results()[0].counts, (std::vector<int64_t>{2, 2}));
  plan.enqueue({view(b)});  // same element count, other pointer and dtype
  EXPECT_EQ(plan.results()[0].counts, (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan.device(), Device::cpu());
  HistogramPlan moved = std::move(plan);
  EXPECT_EQ(moved.results()[0].stats.max, 20);
}

TEST(Histogram, BadArgumentsAreNamed) {
  std::vector<float> a = {1, 2};
  std::vector<float> c = {1, 2, 3};
  test_support::expect_error([&] { histograms({view(a)}, {0}); }, "options.bins");
  test_support::expect_error([&] { histograms({view(a)}, {513}); }, "options.bins");
  test_support::expect_error([&] { histograms({}); }, "tensors");
  auto on_gpu = TensorView::contiguous(a.data(), DType::Float32, {2}, Device::cuda(0));
  test_support::expect_error([&] { histograms({view(a), on_gpu}); }, "tensors[1]");
  auto bad_dtype = view(a);
  bad_dtype.dtype = static_cast<DType>(99);
  test_support::expect_error([&] { histograms({view(a), bad_dtype}); }, "tensors[1]");
  auto null_data = TensorView::contiguous(nullptr, DType::Float32, {2});
  test_support::expect_error([&] { histograms({null_data}); }, "tensors[0]");
  HistogramPlan plan({view(a)});
  test_support::expect_error([&] { plan.enqueue({view(c)}); }, "tensors[0]");
  test_support::expect_error([&] { plan.enqueue({view(a), view(a)}); }, "tensors");
  HistogramOptions bad_window;
  bad_window.schedule = HistogramSchedule::L2Resident;
  bad_window.l2_window_bytes = -1;
  test_support::expect_error([&] { histograms({view(a)}, bad_window); }, "options.l2_window_bytes");
  HistogramOptions bad_schedule;
  bad_schedule.schedule = static_cast<HistogramSchedule>(7);
  test_support::expect_error([&] { histograms({view(a)}, bad_schedule); }, "options.schedule");
}

// The schedule is a CUDA option: the CPU path gives the same results under either.
TEST(Histogram, CpuIgnoresTheSchedule) {
  std::vector<float> a = {3, -1, 2, 7, 0.5f, 2, -4};
  HistogramOptions l2;
  l2.bins = 5;
  l2.schedule = HistogramSchedule::L2Resident;
  l2.l2_window_bytes = 4;
  const auto got = one(view(a), 5);
  const auto other = histograms({view(a)}, l2).at(0);
  EXPECT_EQ(other.counts, got.counts);
  EXPECT_EQ(other.edges, got.edges);
  EXPECT_EQ(other.stats.sum, got.stats.sum);
}

}  // namespace
}  // namespace trainscope
