#include <gtest/gtest.h>

#include "trainscope/error.h"
#include "trainscope/tensor_view.h"

namespace trainscope {
namespace {

TEST(TensorView, ContiguousStridesAreRowMajor) {
  EXPECT_EQ(contiguous_strides({2, 3, 4}), (std::vector<int64_t>{12, 4, 1}));
  EXPECT_EQ(contiguous_strides({}), (std::vector<int64_t>{}));
  float data[24];
  auto v = TensorView::contiguous(data, DType::Float32, {2, 3, 4});
  EXPECT_EQ(v.numel(), 24);
  EXPECT_EQ(v.size(-1), 4);
  EXPECT_TRUE(v.is_contiguous());
  EXPECT_EQ(v.describe(), "float32[2, 3, 4] on cpu");
}

TEST(TensorView, TransposeIsNotContiguousButSizeOneDimsDoNotMatter) {
  float data[6];
  TensorView t{data, DType::Float32, {3, 2}, {1, 3}, Device::cpu()};
  EXPECT_FALSE(t.is_contiguous());
  TensorView unit{data, DType::Float32, {1, 6}, {999, 1}, Device::cpu()};
  EXPECT_TRUE(unit.is_contiguous());
  TensorView empty{nullptr, DType::Float32, {0, 5}, {7, 3}, Device::cpu()};
  EXPECT_TRUE(empty.is_contiguous());
  EXPECT_EQ(empty.numel(), 0);
}

TEST(TensorView, SizeOutOfRangeThrows) {
  float data[2];
  auto v = TensorView::contiguous(data, DType::Float32, {2});
  EXPECT_THROW(v.size(1), Error);
  EXPECT_THROW(v.size(-2), Error);
}

TEST(DType, ElementSizesAndNames) {
  EXPECT_EQ(element_size(DType::Float64), 8u);
  EXPECT_EQ(element_size(DType::BFloat16), 2u);
  EXPECT_EQ(element_size(DType::Bool), 1u);
  EXPECT_STREQ(dtype_name(DType::BFloat16), "bfloat16");
  EXPECT_TRUE(is_floating(DType::Float16));
  EXPECT_FALSE(is_floating(DType::Int64));
}

TEST(Device, Names) {
  EXPECT_EQ(Device::cpu().str(), "cpu");
  EXPECT_EQ(Device::cuda(1).str(), "cuda:1");
  EXPECT_NE(Device::cuda(0), Device::cpu());
}

}  // namespace
}  // namespace trainscope
