// CPU segmentation_to_rgb (fused logits → argmax → RGB, counts, IoU) against hand-made logits.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "support/expect_error.h"  // tests/
#include "trainscope/error.h"
#include "trainscope/ops/colorize.h"

namespace trainscope {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Four pixels of a 2×2 image, three classes each (channels-last order):
//   (0,0) [1, 2, 0] → 1;  (0,1) [5, 5, 1] → 0 (tie to the lower class);
//   (1,0) [0, NaN, 9] → 1 (NaN is the maximum);  (1,1) [−1, −2, 3] → 2 (beyond the palette).
const std::vector<float> kPixels = {1, 2, 0, 5, 5, 1, 0, kNaN, 9, -1, -2, 3};

std::vector<float> channels_first(const std::vector<float>& last, int c, int hw) {
  std::vector<float> first(last.size());
  for (int p = 0; p < hw; ++p)
    for (int k = 0; k < c; ++k) first[std::size_t(k * hw + p)] = last[std::size_t(p * c + k)];
  return first;
}

struct Stats {
  std::vector<int64_t> counts, inter, uni;
  SegmentationStats views;
  explicit Stats(int64_t c) : counts(c, -1), inter(c, -1), uni(c, -1) {
    views.class_counts = TensorView::contiguous(counts.data(), DType::Int64, {c});
    views.intersection = TensorView::contiguous(inter.data(), DType::Int64, {c});
    views.union_counts = TensorView::contiguous(uni.data(), DType::Int64, {c});
  }
};

const Palette kPalette({{10, 20, 30}, {40, 50, 60}});
const std::vector<uint8_t> kExpectedRgb = {40, 50, 60, 10, 20, 30, 40, 50, 60, 1, 2, 3};

TEST(SegmentationToRgb, BothLayoutsGiveHandCheckedColoursCountsAndIoU) {
  std::vector<uint8_t> target = {1, 2, 1, 255};  // 255: outside [0, C), left out of IoU
  auto target_view = TensorView::contiguous(target.data(), DType::UInt8, {1, 2, 2});
  MaskToRgbOptions opt;
  opt.ignore_color = {1, 2, 3};
  std::vector<float> last = kPixels, first = channels_first(kPixels, 3, 4);
  for (auto layout : {ChannelLayout::ChannelsLast, ChannelLayout::ChannelsFirst}) {
    const bool is_first = layout == ChannelLayout::ChannelsFirst;
    auto logits = is_first ? TensorView::contiguous(first.data(), DType::Float32, {1, 3, 2, 2})
                           : TensorView::contiguous(last.data(), DType::Float32, {1, 2, 2, 3});
    std::vector<uint8_t> rgb(12, 0xEE);
    Stats stats(3);
    segmentation_to_rgb(logits, layout, kPalette, TensorView::contiguous(rgb.data(), DType::UInt8, {1, 2, 2, 3}),
                        stats.views, &target_view, opt);
    EXPECT_EQ(rgb, kExpectedRgb);
    EXPECT_EQ(stats.counts, (std::vector<int64_t>{1, 2, 1}));
    // (0,0) 1 vs 1: hit; (0,1) 0 vs 2: union of both; (1,0) 1 vs 1: hit; (1,1) target ignored.
    EXPECT_EQ(stats.inter, (std::vector<int64_t>{0, 2, 0}));
    EXPECT_EQ(stats.uni, (std::vector<int64_t>{1, 2, 1}));
  }
}

TEST(SegmentationToRgb, OutputsAreOverwrittenEachCallAndBatchesCount) {
  std::vector<float> last = kPixels;
  last.insert(last.end(), kPixels.begin(), kPixels.end());  // two identical images
  std::vector<int32_t> target = {0, 0, 0, 0, 1, 0, 2, 2};
  auto target_view = TensorView::contiguous(target.data(), DType::Int32, {2, 2, 2});
  std::vector<uint8_t> rgb(24);
  Stats stats(3);
  auto logits = TensorView::contiguous(last.data(), DType::Float32, {2, 2, 2, 3});
  auto rgb_view = TensorView::contiguous(rgb.data(), DType::UInt8, {2, 2, 2, 3});
  for (int call = 0; call < 2; ++call) {
    segmentation_to_rgb(logits, ChannelLayout::ChannelsLast, kPalette, rgb_view, stats.views, &target_view);
    EXPECT_EQ(stats.counts, (std::vector<int64_t>{2, 4, 2}));
    // preds 1 0 1 2 | 1 0 1 2 vs targets 0 0 0 0 | 1 0 2 2:
    // class 0: hits at 1, 5; union {0,1,2,3,5}; class 1: hit at 4, union {0,2,4,6};
    // class 2: hit at 7, union {3,6,7}.
    EXPECT_EQ(stats.inter, (std::vector<int64_t>{2, 1, 1}));
    EXPECT_EQ(stats.uni, (std::vector<int64_t>{5, 4, 3}));
  }
  std::vector<uint8_t> expected = kExpectedRgb;
  for (auto& b : expected) if (b < 4) b = 0;  // default ignore colour is black
  expected.insert(expected.end(), expected.begin(), expected.end());
  EXPECT_EQ(rgb, expected);
}

TEST(SegmentationToRgb, ReadsStridedLogitsInPlace) {
  // The channels-last buffer seen as a channels-first view [N, C, H, W] with permuted strides.
  std::vector<float> last = kPixels;
  TensorView logits{last.data(), DType::Float32, {1, 3, 2, 2}, {12, 1, 6, 3}, Device::cpu()};
  std::vector<uint8_t> rgb(12);
  Stats stats(3);
  SegmentationStats counts_only;
  counts_only.class_counts = stats.views.class_counts;
  MaskToRgbOptions opt;
  opt.ignore_color = {1, 2, 3};
  segmentation_to_rgb(logits, ChannelLayout::ChannelsFirst, kPalette,
                      TensorView::contiguous(rgb.data(), DType::UInt8, {1, 2, 2, 3}), counts_only, nullptr, opt);
  EXPECT_EQ(rgb, kExpectedRgb);
  EXPECT_EQ(stats.counts, (std::vector<int64_t>{1, 2, 1}));
  EXPECT_EQ(stats.inter, (std::vector<int64_t>{-1, -1, -1}));  // not requested: untouched
}

TEST(SegmentationToRgb, HalfLogits) {
  // Two pixels, two classes, channels-first: [1.0, 2.0] → 1 and [−1.5, −2.0] → 0 (float16 bits).
  std::vector<uint16_t> f16 = {0x3C00, 0xBE00, 0x4000, 0xC000};
  std::vector<uint8_t> rgb(6);
  segmentation_to_rgb(TensorView::contiguous(f16.data(), DType::Float16, {1, 2, 1, 2}), ChannelLayout::ChannelsFirst,
                      kPalette, TensorView::contiguous(rgb.data(), DType::UInt8, {1, 1, 2, 3}));
  EXPECT_EQ(rgb, (std::vector<uint8_t>{40, 50, 60, 10, 20, 30}));
}

TEST(SegmentationToRgb, BadArgumentsNameTheArgument) {
  std::vector<float> x(12);
  std::vector<int32_t> ints(12);
  std::vector<uint8_t> rgb(12);
  std::vector<int64_t> counts(3), target(4);
  auto logits = TensorView::contiguous(x.data(), DType::Float32, {1, 3, 2, 2});
  auto rgb_view = TensorView::contiguous(rgb.data(), DType::UInt8, {1, 2, 2, 3});
  const auto first = ChannelLayout::ChannelsFirst;
  test_support::expect_error([&] {
    segmentation_to_rgb(TensorView::contiguous(x.data(), DType::Float32, {3, 2, 2}), first, kPalette, rgb_view);
  }, "logits: expected rank 4");
  test_support::expect_error([&] {
    segmentation_to_rgb(TensorView::contiguous(ints.data(), DType::Int32, {1, 3, 2, 2}), first, kPalette, rgb_view);
  }, "logits: expected dtype");
  test_support::expect_error([&] {
    segmentation_to_rgb(logits, ChannelLayout::ChannelsLast, kPalette, rgb_view);  // H, W = 3, 2
  }, "rgb: expected uint8 of shape [1, 3, 2, 3]");
  test_support::expect_error([&] {
    SegmentationStats s;
    s.class_counts = TensorView::contiguous(counts.data(), DType::Int64, {2});
    segmentation_to_rgb(logits, first, kPalette, rgb_view, s);
  }, "stats.class_counts: expected int64 of shape [3]");
  test_support::expect_error([&] {
    SegmentationStats s;
    s.intersection = TensorView::contiguous(counts.data(), DType::Int64, {3});
    segmentation_to_rgb(logits, first, kPalette, rgb_view, s);
  }, "target: is required");
  test_support::expect_error([&] {
    auto t = TensorView::contiguous(target.data(), DType::Int64, {1, 4});
    segmentation_to_rgb(logits, first, kPalette, rgb_view, {}, &t);
  }, "target: expected shape [1, 2, 2]");
  test_support::expect_error([&] {
    auto t = TensorView::contiguous(x.data(), DType::Float32, {1, 2, 2});
    segmentation_to_rgb(logits, first, kPalette, rgb_view, {}, &t);
  }, "target: expected dtype");
  test_support::expect_error([&] {
    auto t = TensorView::contiguous(target.data(), DType::Int64, {1, 2, 2}, Device::cuda(0));
    segmentation_to_rgb(logits, first, kPalette, rgb_view, {}, &t);
  }, "target: expected device cpu");
  test_support::expect_error([&] {
    auto r = rgb_view;
    r.device = Device::cuda(0);
    segmentation_to_rgb(logits, first, kPalette, r);
  }, "rgb: expected device cpu");
}

}  // namespace
}  // namespace trainscope
