#include <gtest/gtest.h>

#include "callback/helpers.h"
#include "support/gpu.h"
#include "trainscope/torch/callback.h"

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

}  // namespace
}  // namespace trainscope
