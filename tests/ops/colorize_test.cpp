#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "trainscope/error.h"
#include "trainscope/ops/colorize.h"
#include "colorize_paths.h"  // kernels/: the CUDA kernel's choice of load and store paths

namespace trainscope {
namespace {

// The CUDA kernel stores a 4-pixel group as three 32-bit words only where the output is 4-byte
// aligned: rgb_batch[i] of an [N, H, W, 3] batch with H·W·3 not a multiple of 4 is not.
TEST(MaskToRgbPaths, WordStoresOnlyOnAlignedOutput) {
  alignas(16) static uint8_t rgb[64];
  alignas(16) static int64_t mask[8];
  EXPECT_TRUE(kernels::mask_to_rgb_paths(mask, 8, rgb).word_stores);
  EXPECT_TRUE(kernels::mask_to_rgb_paths(mask, 8, rgb + 12).word_stores);
  for (int offset : {1, 2, 3, 5, 7 * 5 * 3}) {  // 105: rgb_batch[1] of a [N, 7, 5, 3] batch
    EXPECT_FALSE(kernels::mask_to_rgb_paths(mask, 8, rgb + offset % 64).word_stores) << offset;
  }
  // Vector loads need the 4 ids' alignment (16 bytes at most).
  EXPECT_TRUE(kernels::mask_to_rgb_paths(mask, 8, rgb).vector_loads);
  EXPECT_FALSE(kernels::mask_to_rgb_paths(mask + 1, 8, rgb).vector_loads);
  EXPECT_TRUE(kernels::mask_to_rgb_paths(mask + 2, 8, rgb).vector_loads);
  const auto* bytes = reinterpret_cast<const uint8_t*>(mask);
  EXPECT_TRUE(kernels::mask_to_rgb_paths(bytes + 4, 1, rgb).vector_loads);
  EXPECT_FALSE(kernels::mask_to_rgb_paths(bytes + 5, 1, rgb).vector_loads);
}

TEST(Palette, DefaultRuleIsBlackThenSaturatedHues) {
  const Palette p = Palette::default_for(7);  // hues 0, 1/6, ..., 5/6 for classes 1..6
  ASSERT_EQ(p.size(), 7);
  EXPECT_EQ(p[0], (Rgb{0, 0, 0}));
  EXPECT_EQ(p[1], (Rgb{255, 0, 0}));    // hue 0: red
  EXPECT_EQ(p[2], (Rgb{255, 255, 0}));  // 1/6: yellow
  EXPECT_EQ(p[3], (Rgb{0, 255, 0}));    // 2/6: green
  EXPECT_EQ(p[4], (Rgb{0, 255, 255}));  // 3/6: cyan
  EXPECT_EQ(p[5], (Rgb{0, 0, 255}));    // 4/6: blue
  EXPECT_EQ(p[6], (Rgb{255, 0, 255}));  // 5/6: magenta
  EXPECT_EQ(Palette::default_for(2)[1], (Rgb{255, 0, 0}));
  EXPECT_EQ(Palette::default_for(1).size(), 1);
  // Between sectors: hue 1/12 of the way round is orange (255, 128, 0).
  EXPECT_EQ(Palette::default_for(13)[2], (Rgb{255, 128, 0}));
}

TEST(Palette, ClassColorsRoundTo255) {
  const Palette p = Palette::from_class_colors({{0.f, 0.5f, 1.f}, {0.2f, 0.999f, 0.001f}});
  EXPECT_EQ(p[0], (Rgb{0, 128, 255}));
  EXPECT_EQ(p[1], (Rgb{51, 255, 0}));
}

TEST(Palette, RejectsBadInput) {
  EXPECT_THROW(Palette::from_class_colors({}), Error);
  EXPECT_THROW(Palette::from_class_colors({{1.5f, 0.f, 0.f}}), Error);
  EXPECT_THROW(Palette::from_class_colors({{-0.1f, 0.f, 0.f}}), Error);
  EXPECT_THROW(Palette::default_for(0), Error);
  EXPECT_THROW(Palette::default_for(Palette::kMaxClasses + 1), Error);
}

TEST(MaskToRgb, HandCheckedPixelsAndIgnoredCount) {
  const Palette p({{10, 20, 30}, {40, 50, 60}, {70, 80, 90}});
  std::vector<int64_t> ids = {0, 1, 2, 3, -1, 1};
  std::vector<uint8_t> rgb(ids.size() * 3, 0xEE);
  int64_t ignored = -1;
  auto mask = TensorView::contiguous(ids.data(), DType::Int64, {2, 3});
  auto out = TensorView::contiguous(rgb.data(), DType::UInt8, {2, 3, 3});
  auto count = TensorView::contiguous(&ignored, DType::Int64, {1});
  MaskToRgbOptions opt;
  opt.ignore_color = {1, 2, 3};
  mask_to_rgb(mask, p, out, &count, opt);
  const std::vector<uint8_t> expected = {10, 20, 30, 40, 50, 60, 70, 80, 90,
                                         1,  2,  3,  1,  2,  3,  40, 50, 60};
  EXPECT_EQ(rgb, expected);
  EXPECT_EQ(ignored, 2);
}

TEST(MaskToRgb, AllIdTypesAgreeAndBatchedShapesWork) {
  const Palette p = Palette::default_for(4);
  std::vector<uint8_t> u8 = {0, 1, 2, 3, 4, 255, 1, 2};
  std::vector<int32_t> i32(u8.begin(), u8.end());
  std::vector<uint8_t> a(24), b(24);
  mask_to_rgb(TensorView::contiguous(u8.data(), DType::UInt8, {2, 2, 2}), p,
              TensorView::contiguous(a.data(), DType::UInt8, {2, 2, 2, 3}));
  mask_to_rgb(TensorView::contiguous(i32.data(), DType::Int32, {2, 2, 2}), p,
              TensorView::contiguous(b.data(), DType::UInt8, {2, 2, 2, 3}));
  EXPECT_EQ(a, b);
  EXPECT_EQ(a[3 * 3 + 0], 0);   // id 3 of 4: hue 2/3 → blue
  EXPECT_EQ(a[3 * 3 + 2], 255);
}

TEST(MaskToRgb, ReadsNonContiguousMasksInPlace) {
  // A 2×3 mask stored transposed (3×2 memory): element (r, c) at c·2 + r.
  std::vector<int32_t> storage = {0, 1, 1, 0, 2, 2};
  TensorView mask{storage.data(), DType::Int32, {2, 3}, {1, 2}, Device::cpu()};
  const Palette p({{0, 0, 0}, {100, 0, 0}, {0, 200, 0}});
  std::vector<uint8_t> rgb(18);
  mask_to_rgb(mask, p, TensorView::contiguous(rgb.data(), DType::UInt8, {2, 3, 3}));
  // Row 0: ids 0, 1, 2; row 1: ids 1, 0, 2.
  const std::vector<uint8_t> expected = {0, 0, 0, 100, 0, 0, 0, 200, 0, 100, 0, 0, 0, 0, 0, 0, 200, 0};
  EXPECT_EQ(rgb, expected);
}

TEST(MaskToRgb, BadArgumentsNameTheArgument) {
  const Palette p = Palette::default_for(3);
  std::vector<int64_t> ids(8);
  std::vector<uint8_t> rgb(24);
  std::vector<float> floats(8);
  auto expect_error = [](auto fn, const char* needle) {
    try {
      fn();
      FAIL() << "expected trainscope::Error mentioning " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error([&] {
    mask_to_rgb(TensorView::contiguous(ids.data(), DType::Int64, {8}), p,
                TensorView::contiguous(rgb.data(), DType::UInt8, {8, 3}));
  }, "mask: expected rank");
  expect_error([&] {
    mask_to_rgb(TensorView::contiguous(floats.data(), DType::Float32, {2, 4}), p,
                TensorView::contiguous(rgb.data(), DType::UInt8, {2, 4, 3}));
  }, "mask: expected dtype");
  expect_error([&] {
    mask_to_rgb(TensorView::contiguous(ids.data(), DType::Int64, {2, 4}), p,
                TensorView::contiguous(rgb.data(), DType::UInt8, {4, 2, 3}));
  }, "rgb: expected uint8");
  expect_error([&] {
    int64_t n = 0;
    auto bad = TensorView::contiguous(&n, DType::Int32, {1});
    mask_to_rgb(TensorView::contiguous(ids.data(), DType::Int64, {2, 4}), p,
                TensorView::contiguous(rgb.data(), DType::UInt8, {2, 4, 3}), &bad);
  }, "ignored_count");
  expect_error([&] {
    mask_to_rgb(TensorView::contiguous(ids.data(), DType::Int64, {2, 4}, Device::cuda(0)), p,
                TensorView::contiguous(rgb.data(), DType::UInt8, {2, 4, 3}));
  }, "rgb: expected device cuda:0");
}

TEST(MaskToRgb, EmptyMaskIsFine) {
  const Palette p = Palette::default_for(2);
  int64_t ignored = 5;
  auto count = TensorView::contiguous(&ignored, DType::Int64, {1});
  mask_to_rgb(TensorView::contiguous(nullptr, DType::UInt8, {0, 4}), p,
              TensorView::contiguous(nullptr, DType::UInt8, {0, 4, 3}), &count);
  EXPECT_EQ(ignored, 0);
}

}  // namespace
}  // namespace trainscope
