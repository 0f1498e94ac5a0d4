#include <gtest/gtest.h>

#include "support/gpu.h"
#include "trainscope/torch.h"

#ifdef TRAINSCOPE_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>

namespace trainscope {
namespace {

// CUDA and CPU give identical bytes and counts, for every id type and awkward sizes (tails that
// do not fill a 4-pixel group, one pixel, a batch).
TEST(MaskToRgbGpu, IdenticalToCpu) {
  TS_REQUIRE_CUDA();
  torch::manual_seed(1);
  const Palette p = Palette::default_for(21);
  for (auto dtype : {torch::kByte, torch::kInt, torch::kLong}) {
    for (auto shape : std::vector<std::vector<int64_t>>{{1, 1}, {7, 5}, {3, 33, 17}, {16, 512, 512}}) {
      auto mask = torch::randint(0, 24, shape, torch::TensorOptions().dtype(dtype));
      auto [cpu_rgb, cpu_ignored] = mask_to_rgb(mask, p);
      auto [gpu_rgb, gpu_ignored] = mask_to_rgb(mask.cuda(), p);
      EXPECT_TRUE(torch::equal(cpu_rgb, gpu_rgb.cpu())) << c10::toString(dtype);
      EXPECT_EQ(cpu_ignored.item<int64_t>(), gpu_ignored.item<int64_t>());
    }
  }
}

// Each image of a batch written into rgb_batch[i]: with H·W·3 not a multiple of 4 most outputs
// start unaligned (word stores there would be a misaligned-address fault). Also the masks'
// unaligned starts, and the bytes around every output left untouched.
TEST(MaskToRgbGpu, UnalignedOutputViewsOfABatch) {
  TS_REQUIRE_CUDA();
  torch::manual_seed(2);
  const Palette p = Palette::default_for(9);
  for (auto dtype : {torch::kByte, torch::kInt, torch::kLong}) {
    for (auto hw : std::vector<std::pair<int64_t, int64_t>>{{7, 5}, {3, 3}, {1, 1}, {13, 17}}) {
      const int64_t n = 5, h = hw.first, w = hw.second;
      auto masks = torch::randint(-1, 11, {n + 1, h, w}, torch::TensorOptions().dtype(dtype).device(torch::kCUDA));
      auto rgb_batch = torch::full({n, h, w, 3}, 77, masks.options().dtype(torch::kUInt8));
      for (int64_t i = 0; i < n; ++i) {
        // masks[i + 1] views start at (i + 1)·h·w ids: unaligned for the vector loads too.
        mask_to_rgb(view_of(masks[i + 1]), p, view_of(rgb_batch[i]), nullptr, {}, current_stream(masks.device()));
      }
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess) << c10::toString(dtype) << " " << h << "x" << w;
      for (int64_t i = 0; i < n; ++i) {
        auto [expected, ignored] = mask_to_rgb(masks[i + 1].cpu(), p);
        EXPECT_TRUE(torch::equal(rgb_batch[i].cpu(), expected)) << c10::toString(dtype) << " image " << i;
      }
    }
  }
}

TEST(MaskToRgbGpu, RunsOnTheCurrentStreamAndInAGraph) {
  TS_REQUIRE_CUDA();
  const Palette p = Palette::default_for(5);
  auto mask = torch::randint(-1, 6, {4, 64, 64}, torch::TensorOptions().dtype(torch::kLong).device(torch::kCUDA));
  auto rgb = torch::empty({4, 64, 64, 3}, mask.options().dtype(torch::kUInt8));
  auto ignored = torch::empty({}, mask.options());
  const TensorView ignored_view = view_of(ignored);

  auto stream = c10::cuda::getStreamFromPool();
  c10::cuda::CUDAStreamGuard guard(stream);
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  ASSERT_EQ(cudaStreamBeginCapture(stream.stream(), cudaStreamCaptureModeThreadLocal), cudaSuccess);
  mask_to_rgb(view_of(mask), p, view_of(rgb), &ignored_view, {}, current_stream(mask.device()));
  ASSERT_EQ(cudaStreamEndCapture(stream.stream(), &graph), cudaSuccess);
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, stream.stream()), cudaSuccess);
  stream.synchronize();
  auto [expected_rgb, expected_ignored] = mask_to_rgb(mask.cpu(), p);
  EXPECT_TRUE(torch::equal(rgb.cpu(), expected_rgb));
  EXPECT_EQ(ignored.item<int64_t>(), expected_ignored.item<int64_t>());
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
}

}  // namespace
}  // namespace trainscope
#endif
