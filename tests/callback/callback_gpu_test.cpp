#include <gtest/gtest.h>

#include "callback/helpers.h"
#include "support/gpu.h"
#include "trainscope/torch/callback.h"

#ifdef TRAINSCOPE_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#endif

namespace trainscope {
namespace {

// On CUDA the same training loop gives the same run contents as on the CPU: device scalar
// metrics, histograms through HistogramPlan and checkpoints.
TEST(CallbackGpu, DeviceMetricsAndHistogramsMatchTheCpu) {
  TS_REQUIRE_CUDA();
  std::map<std::string, nlohmann::json> last_rows;
  for (const char* device_name : {"cpu", "cuda"}) {
    torch::Device device(device_name);
    auto dir = testing::fresh_run_dir(std::string("gpu_") + device_name);
    CallbackOptions options;
    options.run.directory = dir.string();
    options.log_weights = options.log_gradients = true;
    options.histogram_frequency = 1;
    options.log_batch_frequency = 1;
    options.predictions = 0;
    torch::manual_seed(3);
    torch::nn::Linear model(64, 8);
    model->to(device);
    torch::optim::SGD optimizer(model->parameters(), 0.01);
    Callback callback(options);
    callback.set_model(model);
    callback.set_optimizer(&optimizer);
    callback.on_train_begin();
    auto x = torch::linspace(-1, 1, 4 * 64).reshape({4, 64}).to(device);
    for (int64_t step = 0; step < 5; ++step) {
      optimizer.zero_grad();
      auto loss = model->forward(x).pow(2).mean();
      loss.backward();
      callback.after_backward();
      optimizer.step();
      callback.on_batch_end(step, {{"loss", loss.detach()}});
    }
    callback.on_epoch_end(0, {{"val_loss", torch::tensor(0.5, torch::TensorOptions().device(device))}});
    callback.on_train_end();
    auto rows = testing::read_history(dir);
    ASSERT_EQ(rows.size(), 6u);
    EXPECT_TRUE(std::filesystem::exists(dir / "checkpoints/model-best.pt"));
    last_rows[device_name] = rows[4];
  }
  const auto& cpu = last_rows["cpu"];
  const auto& gpu = last_rows["cuda"];
  EXPECT_NEAR(cpu["loss"].get<double>(), gpu["loss"].get<double>(), 1e-5);
  EXPECT_EQ(cpu["gradients/weight"]["values"].size(), 64u);
  int64_t total = 0;
  for (auto& v : gpu["parameters/weight"]["values"]) total += v.get<int64_t>();
  EXPECT_EQ(total, 64 * 8);
  EXPECT_NEAR(cpu["parameters/weight"]["bins"][0].get<double>(), gpu["parameters/weight"]["bins"][0].get<double>(), 1e-6);
}

#ifdef TRAINSCOPE_WITH_CUDA
// on_train_begin() builds the histogram plans, so a logging step allocates nothing: captured in
// global mode (where cudaMalloc and cudaMallocHost are errors) after_backward() succeeds, and
// the replay's histograms reach the run.
TEST(CallbackGpu, LoggingStepCapturesAfterTrainBegin) {
  TS_REQUIRE_CUDA();
  auto dir = testing::fresh_run_dir("gpu_capture");
  CallbackOptions options;
  options.run.directory = dir.string();
  options.log_gradients = true;
  options.histogram_frequency = 1;
  options.predictions = 0;
  options.save_model = false;
  torch::manual_seed(4);
  torch::nn::Linear model(32, 16);
  model->to(torch::kCUDA);
  Callback callback(options);
  callback.set_model(model);
  callback.on_train_begin();
  auto x = torch::randn({8, 32}, torch::kCUDA);
  model->forward(x).pow(2).mean().backward();
  torch::cuda::synchronize();

  auto stream = c10::cuda::getStreamFromPool();
  c10::cuda::CUDAStreamGuard guard(stream);
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaStreamBeginCapture(stream.stream(), cudaStreamCaptureModeGlobal), cudaSuccess);
  callback.after_backward();
  ASSERT_EQ(cudaStreamEndCapture(stream.stream(), &graph), cudaSuccess);
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, stream.stream()), cudaSuccess);
  stream.synchronize();
  callback.on_batch_end(0, {{"loss", 1.0}});
  callback.on_train_end();
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);

  auto rows = testing::read_history(dir);
  ASSERT_FALSE(rows.empty());
  int64_t total = 0;
  for (auto& v : rows[0]["gradients/weight"]["values"]) total += v.get<int64_t>();
  EXPECT_EQ(total, 32 * 16);
}
#endif

}  // namespace
}  // namespace trainscope
