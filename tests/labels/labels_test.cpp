// CPU labels_from_logits against hand-computed values (the CPU path is the reference for CUDA).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "ops/element_readers.h"
#include "support/expect_error.h"  // tests/
#include "trainscope/error.h"
#include "trainscope/ops/labels.h"

namespace trainscope {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// Owns the outputs for N rows and top-k k.
struct Outputs {
  std::vector<int64_t> labels;
  std::vector<float> confidence;
  std::vector<int64_t> top_labels;
  std::vector<float> top_conf;
  LabelOutputs views;
  Outputs(int64_t n, int k) : labels(n, -7), confidence(n, -7.f), top_labels(n * k, -7), top_conf(n * k, -7.f) {
    views.labels = TensorView::contiguous(labels.data(), DType::Int64, {n});
    views.confidence = TensorView::contiguous(confidence.data(), DType::Float32, {n});
    if (k) {
      views.top_k_labels = TensorView::contiguous(top_labels.data(), DType::Int64, {n, k});
      views.top_k_confidence = TensorView::contiguous(top_conf.data(), DType::Float32, {n, k});
    }
  }
};

TEST(Labels, ArgmaxTiesGoToTheLowerIndexAndSoftmaxIsHandComputed) {
  std::vector<float> x = {1.f, 3.f, 3.f, 2.f,      // tie between 1 and 2 → 1
                          -5.f, -5.f, -5.f, -5.f,  // all equal → 0, p = 1/4
                          1000.f, 0.f, 999.f, 0.f};  // large values: max-subtracted, no overflow
  Outputs out(3, 0);
  labels_from_logits(TensorView::contiguous(x.data(), DType::Float32, {3, 4}), out.views);
  EXPECT_EQ(out.labels, (std::vector<int64_t>{1, 0, 0}));
  const double p0 = 1.0 / (std::exp(-2.0) + 1.0 + 1.0 + std::exp(-1.0));
  EXPECT_NEAR(out.confidence[0], p0, 1e-6);
  EXPECT_FLOAT_EQ(out.confidence[1], 0.25f);
  EXPECT_NEAR(out.confidence[2], 1.0 / (1.0 + std::exp(-1.0)), 1e-6);
}

// NaN counts as the maximum (first NaN wins); a row with a NaN, a +Inf or only −Inf has a NaN
// confidence (what torch.softmax gives); −Inf entries next to finite ones have probability 0.
TEST(Labels, NaNAndInfinityRows) {
  std::vector<float> x = {1.f, kNaN, 5.f, kNaN,    // first NaN: 1
                          kInf, 2.f, kInf, 0.f,    // first +Inf: 0, confidence NaN
                          -kInf, -kInf, -kInf, -kInf,  // all −Inf: 0, NaN
                          -kInf, 0.f, -kInf, 0.f,  // ties at 0: 1, p = 1/2
                          kNaN, kInf, 3.f, 1.f};   // NaN beats +Inf
  Outputs out(5, 2);
  labels_from_logits(TensorView::contiguous(x.data(), DType::Float32, {5, 4}), out.views, nullptr,
                     LabelOptions{2});
  EXPECT_EQ(out.labels, (std::vector<int64_t>{1, 0, 0, 1, 0}));
  EXPECT_TRUE(std::isnan(out.confidence[0]));
  EXPECT_TRUE(std::isnan(out.confidence[1]));
  EXPECT_TRUE(std::isnan(out.confidence[2]));
  EXPECT_FLOAT_EQ(out.confidence[3], 0.5f);
  EXPECT_TRUE(std::isnan(out.confidence[4]));
  // Top-2 in the same order: NaNs first (lower index first), then values, ties to the lower index.
  EXPECT_EQ(out.top_labels, (std::vector<int64_t>{1, 3, 0, 2, 0, 1, 1, 3, 0, 1}));
  EXPECT_FLOAT_EQ(out.top_conf[6], 0.5f);
  EXPECT_FLOAT_EQ(out.top_conf[7], 0.5f);
  EXPECT_TRUE(std::isnan(out.top_conf[0]));
}

TEST(Labels, TopKTiesGoToTheLowerIndex) {
  std::vector<float> x = {2.f, 7.f, 2.f, 7.f, 1.f, 2.f};
  Outputs out(1, 5);
  labels_from_logits(TensorView::contiguous(x.data(), DType::Float32, {1, 6}), out.views, nullptr,
                     LabelOptions{5});
  EXPECT_EQ(out.top_labels, (std::vector<int64_t>{1, 3, 0, 2, 5}));
  double sum = 0;
  for (float v : x) sum += std::exp(double(v) - 7.0);
  EXPECT_NEAR(out.top_conf[0], 1.0 / sum, 1e-6);
  EXPECT_NEAR(out.top_conf[1], 1.0 / sum, 1e-6);
  EXPECT_NEAR(out.top_conf[2], std::exp(-5.0) / sum, 1e-7);
  EXPECT_NEAR(out.top_conf[4], std::exp(-5.0) / sum, 1e-7);
  EXPECT_EQ(out.labels[0], 1);
  EXPECT_FLOAT_EQ(out.confidence[0], out.top_conf[0]);
}

TEST(Labels, BinaryThresholdOnProbabilities) {
  std::vector<float> x = {0.2f, 0.5f, 0.9f, kNaN};
  Outputs out(4, 2);
  labels_from_logits(TensorView::contiguous(x.data(), DType::Float32, {4, 1}), out.views, nullptr,
                     LabelOptions{2, 0.5, false});
  EXPECT_EQ(out.labels, (std::vector<int64_t>{0, 0, 1, 0}));  // 0.5 is not above 0.5; NaN never is
  EXPECT_FLOAT_EQ(out.confidence[0], 0.8f);
  EXPECT_FLOAT_EQ(out.confidence[1], 0.5f);
  EXPECT_FLOAT_EQ(out.confidence[2], 0.9f);
  EXPECT_TRUE(std::isnan(out.confidence[3]));
  EXPECT_EQ(out.top_labels, (std::vector<int64_t>{0, 1, 0, 1, 1, 0, 0, 1}));
  EXPECT_FLOAT_EQ(out.top_conf[1], 0.2f);
  EXPECT_FLOAT_EQ(out.top_conf[5], 1.f - 0.9f);
}

TEST(Labels, BinaryWithSigmoidComparesTheProbability) {
  std::vector<float> x = {0.f, 0.1f, -2.f, kInf, -kInf, 1.0986123f /* logit(0.75) */};
  Outputs out(6, 0);
  LabelOptions opt;
  opt.apply_sigmoid = true;
  labels_from_logits(TensorView::contiguous(x.data(), DType::Float32, {6, 1}), out.views, nullptr, opt);
  EXPECT_EQ(out.labels, (std::vector<int64_t>{0, 1, 0, 1, 0, 1}));
  EXPECT_FLOAT_EQ(out.confidence[0], 0.5f);
  EXPECT_NEAR(out.confidence[1], 1.0 / (1.0 + std::exp(-0.1)), 1e-7);
  EXPECT_NEAR(out.confidence[2], 1.0 - 1.0 / (1.0 + std::exp(2.0)), 1e-7);
  EXPECT_FLOAT_EQ(out.confidence[3], 1.f);
  EXPECT_FLOAT_EQ(out.confidence[4], 1.f);
  // A higher threshold moves the decision: sigmoid(1.0986) = 0.75 is not above 0.8.
  opt.threshold = 0.8;
  labels_from_logits(TensorView::contiguous(x.data(), DType::Float32, {6, 1}), out.views, nullptr, opt);
  EXPECT_EQ(out.labels, (std::vector<int64_t>{0, 0, 0, 1, 0, 0}));
  EXPECT_NEAR(out.confidence[5], 0.25, 1e-6);
}

TEST(Labels, ConfusionAccumulatesAcrossCallsAndCountsIgnoredTargets) {
  std::vector<float> x = {0.f, 5.f, 1.f,   // → 1
                          9.f, 0.f, 0.f,   // → 0
                          0.f, 0.f, 2.f};  // → 2
  std::vector<int64_t> targets = {1, 2, 3};  // 3 is out of range
  std::vector<int64_t> confusion(9, 0);
  int64_t ignored = 0;
  LabelTargets t;
  t.targets = TensorView::contiguous(targets.data(), DType::Int64, {3});
  t.confusion = TensorView::contiguous(confusion.data(), DType::Int64, {3, 3});
  t.ignored = TensorView::contiguous(&ignored, DType::Int64, {});
  Outputs out(3, 0);
  auto logits = TensorView::contiguous(x.data(), DType::Float32, {3, 3});
  labels_from_logits(logits, out.views, &t);
  EXPECT_EQ(confusion, (std::vector<int64_t>{0, 0, 0, 0, 1, 0, 1, 0, 0}));
  EXPECT_EQ(ignored, 1);
  targets = {-1, 0, 2};
  labels_from_logits(logits, out.views, &t);
  EXPECT_EQ(confusion, (std::vector<int64_t>{1, 0, 0, 0, 1, 0, 1, 0, 1}));
  EXPECT_EQ(ignored, 2);
}

TEST(Labels, TargetsAreReadWithTheirStrides) {
  std::vector<float> x = {0.f, 5.f, 1.f,   // → 1
                          9.f, 0.f, 0.f};  // → 0
  std::vector<int64_t> storage = {1, -9, 1, -9};  // every other element: targets 1, 1
  std::vector<int64_t> confusion(9, 0);
  LabelTargets t;
  t.targets = TensorView{storage.data(), DType::Int64, {2}, {2}, Device::cpu()};
  t.confusion = TensorView::contiguous(confusion.data(), DType::Int64, {3, 3});
  Outputs out(2, 0);
  labels_from_logits(TensorView::contiguous(x.data(), DType::Float32, {2, 3}), out.views, &t);
  EXPECT_EQ(confusion, (std::vector<int64_t>{0, 0, 0, 1, 1, 0, 0, 0, 0}));  // (1→1), (1→0)
}

TEST(Labels, BinaryConfusionIsTwoByTwo) {
  std::vector<float> x = {0.7f, 0.1f, 0.6f};
  std::vector<int64_t> targets = {1, 1, 0};
  std::vector<int64_t> confusion(4, 0);
  LabelTargets t;
  t.targets = TensorView::contiguous(targets.data(), DType::Int64, {3});
  t.confusion = TensorView::contiguous(confusion.data(), DType::Int64, {2, 2});
  Outputs out(3, 0);
  labels_from_logits(TensorView::contiguous(x.data(), DType::Float32, {3, 1}), out.views, &t);
  EXPECT_EQ(confusion, (std::vector<int64_t>{0, 1, 1, 1}));  // (0→1), (1→0), (1→1)
}

TEST(Labels, ReadsStridedLogitsInPlace) {
  // A [3, 2] view of a transposed [2, 3] buffer: element (r, c) at r + 3c.
  std::vector<float> storage = {1.f, 5.f, 2.f,   // column 0 of the view
                                4.f, 0.f, 2.f};  // column 1
  TensorView logits{storage.data(), DType::Float32, {3, 2}, {1, 3}, Device::cpu()};
  Outputs out(3, 0);
  labels_from_logits(logits, out.views);
  EXPECT_EQ(out.labels, (std::vector<int64_t>{1, 0, 0}));
  EXPECT_FLOAT_EQ(out.confidence[2], 0.5f);
}

TEST(Labels, HalfAndBFloat16MatchFloat32) {
  // 1.0, 2.0, −1.5, 2.0 in float16 and bfloat16 bits.
  std::vector<uint16_t> f16 = {0x3C00, 0x4000, 0xBE00, 0x4000};
  std::vector<uint16_t> bf16 = {0x3F80, 0x4000, 0xBFC0, 0x4000};
  std::vector<float> f32 = {1.f, 2.f, -1.5f, 2.f};
  Outputs a(1, 0), b(1, 0), c(1, 0);
  labels_from_logits(TensorView::contiguous(f16.data(), DType::Float16, {1, 4}), a.views);
  labels_from_logits(TensorView::contiguous(bf16.data(), DType::BFloat16, {1, 4}), b.views);
  labels_from_logits(TensorView::contiguous(f32.data(), DType::Float32, {1, 4}), c.views);
  EXPECT_EQ(a.labels[0], 1);
  EXPECT_EQ(b.labels[0], 1);
  EXPECT_EQ(c.labels[0], 1);
  EXPECT_EQ(a.confidence[0], c.confidence[0]);
  EXPECT_EQ(b.confidence[0], c.confidence[0]);
}

TEST(HalfFloat, ConvertsEveryClassOfValue) {
  EXPECT_EQ(detail::float16_to_float(0x0001), std::ldexp(1.f, -24));  // smallest subnormal
  EXPECT_EQ(detail::float16_to_float(0x03FF), std::ldexp(1023.f, -24));
  EXPECT_EQ(detail::float16_to_float(0x0400), std::ldexp(1.f, -14));
  EXPECT_EQ(detail::float16_to_float(0x7BFF), 65504.f);
  EXPECT_EQ(detail::float16_to_float(0x8001), -std::ldexp(1.f, -24));
  EXPECT_EQ(detail::float16_to_float(0xFC00), -kInf);
  EXPECT_TRUE(std::isnan(detail::float16_to_float(0x7E00)));
  EXPECT_EQ(detail::bfloat16_to_float(0xC2F7), -123.5f);
}

TEST(Labels, EmptyBatchIsFine) {
  Outputs out(0, 0);
  labels_from_logits(TensorView::contiguous(nullptr, DType::Float32, {0, 10}), out.views);
}

TEST(Labels, BadArgumentsNameTheArgument) {
  std::vector<float> x(12);
  std::vector<double> x64(12);
  std::vector<int64_t> targets(3), confusion(16), wide(32);
  Outputs out(3, 2);
  auto logits = TensorView::contiguous(x.data(), DType::Float32, {3, 4});
  test_support::expect_error([&] { labels_from_logits(TensorView::contiguous(x.data(), DType::Float32, {12}), out.views); },
               "logits: expected rank 2");
  test_support::expect_error([&] { labels_from_logits(TensorView::contiguous(x64.data(), DType::Float64, {3, 4}), out.views); },
               "logits: expected dtype");
  test_support::expect_error([&] { labels_from_logits(TensorView::contiguous(x.data(), DType::Float32, {3, 0}), out.views); },
               "logits: expected 1");
  test_support::expect_error([&] { labels_from_logits(TensorView::contiguous(x.data(), DType::Float32, {4, 3}), out.views); },
               "outputs.labels: expected int64 of shape");
  {
    LabelOutputs bad = out.views;
    bad.labels.dtype = DType::Int32;
    test_support::expect_error([&] { labels_from_logits(logits, bad); }, "outputs.labels");
    bad = out.views;
    bad.confidence.shape = {2};
    bad.confidence.strides = {1};
    test_support::expect_error([&] { labels_from_logits(logits, bad); }, "outputs.confidence");
    bad = out.views;
    bad.labels.device = Device::cuda(0);
    test_support::expect_error([&] { labels_from_logits(logits, bad); }, "outputs.labels: expected device");
    bad = out.views;
    bad.labels.strides = {2};
    test_support::expect_error([&] { labels_from_logits(logits, bad); }, "outputs.labels: must be contiguous");
  }
  test_support::expect_error([&] { labels_from_logits(logits, out.views, nullptr, LabelOptions{6}); }, "options.top_k: expected 0..5");
  test_support::expect_error([&] { labels_from_logits(logits, out.views, nullptr, LabelOptions{-1}); }, "options.top_k");
  test_support::expect_error([&] { labels_from_logits(logits, out.views, nullptr, LabelOptions{3}); },
               "outputs.top_k_labels: expected int64 of shape [3, 3]");
  test_support::expect_error([&] {
    labels_from_logits(TensorView::contiguous(x.data(), DType::Float32, {3, 1}), out.views, nullptr, LabelOptions{3});
  }, "options.top_k: expected at most the number of classes");
  test_support::expect_error([&] {
    LabelOutputs no_top = out.views;
    no_top.top_k_labels = {};
    labels_from_logits(logits, no_top, nullptr, LabelOptions{2});
  }, "outputs.top_k_labels: is required");
  test_support::expect_error([&] {
    LabelOptions opt;
    opt.threshold = std::nan("");
    labels_from_logits(logits, out.views, nullptr, opt);
  }, "options.threshold");
  LabelTargets t;
  t.targets = TensorView::contiguous(targets.data(), DType::Int64, {3});
  t.confusion = TensorView::contiguous(confusion.data(), DType::Int64, {4, 4});
  test_support::expect_error([&] {
    LabelTargets bad = t;
    bad.confusion = TensorView::contiguous(wide.data(), DType::Int64, {4, 8});
    labels_from_logits(logits, out.views, &bad);
  }, "targets.confusion: expected int64 of shape [4, 4]");
  test_support::expect_error([&] {
    LabelTargets bad = t;
    bad.confusion = {};
    labels_from_logits(logits, out.views, &bad);
  }, "targets.confusion: is required");
  test_support::expect_error([&] {
    LabelTargets bad = t;
    bad.targets.dtype = DType::Int32;
    labels_from_logits(logits, out.views, &bad);
  }, "targets.targets: expected int64");
  test_support::expect_error([&] {
    LabelTargets bad = t;
    bad.targets = TensorView::contiguous(targets.data(), DType::Int64, {2});
    labels_from_logits(logits, out.views, &bad);
  }, "targets.targets: expected int64 of shape [3]");
  test_support::expect_error([&] {
    LabelTargets bad = t;
    bad.ignored = TensorView::contiguous(wide.data(), DType::Int64, {2});
    labels_from_logits(logits, out.views, &bad);
  }, "targets.ignored: expected one int64");
  test_support::expect_error([&] {
    LabelTargets bad = t;
    bad.targets.device = Device::cuda(0);
    labels_from_logits(logits, out.views, &bad);
  }, "targets.targets: expected device cpu");
}

}  // namespace
}  // namespace trainscope
