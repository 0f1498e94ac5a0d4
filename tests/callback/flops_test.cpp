#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "callback/helpers.h"
#include "trainscope/error.h"
#include "trainscope/torch/callback.h"

namespace trainscope {
namespace {

// Hand-computed: a multiply-add counts 2 FLOPs.
TEST(Flops, LinearIsTwoTimesBatchInOut) {
  torch::nn::Linear linear(8, 4);
  auto forward = [&](const torch::Tensor& x) { return linear->forward(x); };
  EXPECT_DOUBLE_EQ(count_flops(forward, torch::randn({2, 8})), 2.0 * 2 * 8 * 4);
  EXPECT_DOUBLE_EQ(count_flops(forward, torch::randn({5, 8})), 2.0 * 5 * 8 * 4);
}

TEST(Flops, ConvolutionCountsOutputTimesKernelVolume) {
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 5, 3).padding(1));
  auto forward = [&](const torch::Tensor& x) { return conv->forward(x); };
  // out [1, 5, 8, 8]; each output: 3 · 3 · 3 multiply-adds
  EXPECT_DOUBLE_EQ(count_flops(forward, torch::randn({1, 3, 8, 8})), 2.0 * 5 * 8 * 8 * 27);
  torch::nn::Conv2d strided(torch::nn::Conv2dOptions(4, 6, 3).stride(2).groups(2));
  auto forward2 = [&](const torch::Tensor& x) { return strided->forward(x); };
  // out [2, 6, 4, 4] (9 → 4); per output: (4/2) · 3 · 3
  EXPECT_DOUBLE_EQ(count_flops(forward2, torch::randn({2, 4, 9, 9})), 2.0 * 2 * 6 * 4 * 4 * 18);
}

TEST(Flops, SequentialSumsItsLayersAndIgnoresActivations) {
  torch::nn::Sequential net(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 2, 3)), torch::nn::ReLU(),
                            torch::nn::Flatten(), torch::nn::Linear(2 * 4 * 4, 3));
  auto forward = [&](const torch::Tensor& x) { return net->forward(x); };
  double conv = 2.0 * 2 * 4 * 4 * 9, linear = 2.0 * 1 * 32 * 3;
  EXPECT_DOUBLE_EQ(count_flops(forward, torch::randn({1, 1, 6, 6})), conv + linear);
  EXPECT_DOUBLE_EQ(count_flops([](const torch::Tensor& x) { return x.matmul(x.transpose(0, 1)); },
                               torch::randn({3, 7})),
                   2.0 * 3 * 7 * 3);
}

TEST(Flops, CallbackReportsGflopsInTheSummary) {
  torch::nn::Linear linear(100, 50);
  CallbackOptions options;
  options.compute_flops = true;
  options.flops_input = torch::randn({10, 100});
  options.run.directory = testing::fresh_run_dir("flops").string();
  Callback callback(options);
  callback.set_model(linear);
  EXPECT_DOUBLE_EQ(callback.get_flops(), 2.0 * 10 * 100 * 50 / 1e9);
  callback.on_train_begin();
  callback.on_train_end();
  std::ifstream in(options.run.directory + "/summary.json");
  auto summary = nlohmann::json::parse(in);
  EXPECT_DOUBLE_EQ(summary["GFLOPs"].get<double>(), 1e-4);
  EXPECT_THROW(count_flops(nullptr, torch::ones({1})), Error);
}

TEST(Graph, ModuleTreeWithParameterShapes) {
  torch::nn::Sequential net(torch::nn::Linear(3, 4), torch::nn::ReLU(), torch::nn::Linear(4, 2));
  auto graph = nlohmann::json::parse(module_graph_json(*net.ptr()));
  EXPECT_EQ(graph["total_parameters"], 3 * 4 + 4 + 4 * 2 + 2);
  ASSERT_EQ(graph["nodes"].size(), 4u);
  EXPECT_EQ(graph["nodes"][0]["name"], "model");
  EXPECT_EQ(graph["nodes"][1]["name"], "model.0");
  EXPECT_EQ(graph["nodes"][1]["num_parameters"], 16);
  EXPECT_EQ(graph["nodes"][1]["parameters"][0]["shape"], nlohmann::json({4, 3}));
  EXPECT_EQ(graph["edges"].size(), 3u);
  EXPECT_EQ(graph["edges"][0], nlohmann::json({"model", "model.0"}));
}

}  // namespace
}  // namespace trainscope
