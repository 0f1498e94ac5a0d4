#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include "common/parallel.h"     // src/: the executor in use
#include "hist/torch_reference.h"  // tests/
#include "trainscope/torch.h"

namespace trainscope {
namespace {

// Loading trainscope::torch makes libtorch's intra-op threads the CPU ops' executor.
TEST(TorchAdapter, CpuOpsRunOnLibtorchsIntraOpThreads) {
#ifndef TRAINSCOPE_TORCH_EXECUTOR
  GTEST_SKIP() << "built without OpenMP: the CPU ops use their own pool";
#endif
  const int threads = at::get_num_threads();
  EXPECT_EQ(detail::cpu_threads(), threads);
  at::set_num_threads(1);
  EXPECT_EQ(detail::cpu_threads(), 1);
  at::set_num_threads(threads);
  EXPECT_EQ(detail::cpu_threads(), threads);
  // The histogram of a tensor spanning many work items, on those threads, matches torch.histc.
  torch::manual_seed(3);
  auto t = torch::randn({3000000});
  const auto r = histograms(std::vector<torch::Tensor>{t}, {64});
  testing::expect_agrees_with_histc(t, r.at(0), "3M normal values");
  testing::expect_stats_match_torch(t, r.at(0), "3M normal values");
}

TEST(TorchAdapter, ViewMirrorsTensorMetadata) {
  auto t = torch::arange(24, torch::kFloat).reshape({2, 3, 4});
  auto v = view_of(t);
  EXPECT_EQ(v.data, t.data_ptr());
  EXPECT_EQ(v.dtype, DType::Float32);
  EXPECT_EQ(v.shape, (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(v.strides, (std::vector<int64_t>{12, 4, 1}));
  EXPECT_EQ(v.device, Device::cpu());

  auto tt = t.transpose(0, 2);
  auto vt = view_of(tt);
  EXPECT_EQ(vt.strides, (std::vector<int64_t>{1, 4, 12}));
  EXPECT_FALSE(vt.is_contiguous());
}

TEST(TorchAdapter, DTypesRoundTrip) {
  for (auto st : {torch::kFloat, torch::kHalf, torch::kBFloat16, torch::kDouble, torch::kByte,
                  torch::kChar, torch::kShort, torch::kInt, torch::kLong, torch::kBool}) {
    EXPECT_EQ(scalar_type_of(dtype_of(st)), st);
  }
  EXPECT_THROW(view_of(torch::zeros({2}, torch::kComplexFloat)), Error);
  EXPECT_THROW(view_of(torch::Tensor()), Error);
}

TEST(TorchAdapter, MaskToRgbMatchesPaletteIndexingOnCpu) {
  torch::manual_seed(0);
  const Palette p = Palette::default_for(21);
  auto mask = torch::randint(-2, 23, {3, 17, 19}, torch::kLong);
  auto [rgb, ignored] = mask_to_rgb(mask, p);

  auto table = torch::empty({p.size() + 1, 3}, torch::kUInt8);
  for (int i = 0; i < p.size(); ++i) {
    table[i][0] = p[i].r; table[i][1] = p[i].g; table[i][2] = p[i].b;
  }
  table[p.size()].zero_();  // default ignore colour
  auto out_of_range = (mask < 0) | (mask >= p.size());
  auto reference = table.index({torch::where(out_of_range, torch::full_like(mask, p.size()), mask)});
  EXPECT_TRUE(torch::equal(rgb, reference));
  EXPECT_EQ(ignored.item<int64_t>(), out_of_range.sum().item<int64_t>());

  // Non-contiguous input (a channel-permuted view) reads in place and still agrees.
  auto permuted = mask.permute({0, 2, 1});
  auto [rgb_t, ignored_t] = mask_to_rgb(permuted, p);
  EXPECT_TRUE(torch::equal(rgb_t, reference.permute({0, 2, 1, 3})));
}

}  // namespace
}  // namespace trainscope
