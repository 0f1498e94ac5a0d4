// The libtorch entry points of the histogram op on the CPU, against torch itself.
#include <gtest/gtest.h>

#include "hist/torch_reference.h"
#include "trainscope/torch.h"

namespace trainscope {
namespace {

TEST(HistogramTorch, AgreesWithHistcAndTorchStatistics) {
  torch::manual_seed(3);
  std::vector<torch::Tensor> tensors = {
      torch::randn({64, 3, 7, 7}), torch::rand({1000}) * 1e-3, torch::randn({33, 17}).to(torch::kDouble),
      torch::randn({300, 200}).to(torch::kBFloat16), torch::randn({5000}).to(torch::kHalf),
      torch::randint(-50, 50, {999}, torch::kInt), torch::randn({40000}) * 1e20};
  tensors[0].view(-1)[10] = NAN;
  tensors[1].view(-1)[3] = INFINITY;
  for (int bins : {1, 64, 512}) {
    HistogramOptions o;
    o.bins = bins;
    const auto r = histograms(tensors, o);
    ASSERT_EQ(r.size(), tensors.size());
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      const std::string what = "tensor " + std::to_string(i) + " bins " + std::to_string(bins);
      testing::expect_agrees_with_histc(tensors[i], r[i], what);
      testing::expect_stats_match_torch(tensors[i], r[i], what);
    }
  }
}

TEST(HistogramTorch, NonContiguousCpuTensorsAreReadInPlace) {
  torch::manual_seed(4);
  auto base = torch::randn({64, 48});
  const auto views = std::vector<torch::Tensor>{base.t(), base.index({torch::indexing::Slice(), torch::indexing::Slice(1, torch::indexing::None, 3)})};
  const auto in = histogram_inputs(views);
  EXPECT_TRUE(in.keep.empty());
  EXPECT_FALSE(in.views[0].is_contiguous());
  const auto strided = histograms(views);
  const auto copied = histograms({views[0].contiguous(), views[1].contiguous()});
  for (std::size_t i = 0; i < views.size(); ++i) {
    EXPECT_EQ(strided[i].counts, copied[i].counts);
    EXPECT_EQ(strided[i].stats.min, copied[i].stats.min);
    EXPECT_EQ(strided[i].stats.max, copied[i].stats.max);
  }
}

TEST(HistogramTorch, PlanEnqueuesTensors) {
  auto a = torch::arange(10, torch::kFloat);
  auto b = torch::arange(10, torch::kFloat) * -1;
  HistogramPlan plan = histogram_plan({a}, {5});
  enqueue_histograms(plan, {a});
  EXPECT_EQ(plan.results()[0].counts, (std::vector<int64_t>{2, 2, 2, 2, 2}));
  enqueue_histograms(plan, {b});
  EXPECT_EQ(plan.results()[0].stats.min, -9);
}

TEST(HistogramTorch, UnsupportedDtypeIsNamed) {
  auto ok = torch::ones({3});
  auto complex = torch::ones({3}, torch::kComplexFloat);
  try {
    histograms({ok, complex});
    ADD_FAILURE() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tensors[1]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("dtype"), std::string::npos) << e.what();
  }
  EXPECT_THROW(histograms(std::vector<torch::Tensor>{}), Error);
  EXPECT_THROW(histograms({torch::Tensor()}), Error);
}

}  // namespace
}  // namespace trainscope
