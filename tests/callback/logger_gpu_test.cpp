// trainscope::Logger with CUDA tensors (docs/callback.md#logging): log() only enqueues — it returns
// while the stream is still busy with a spin kernel enqueued just before it, so it waited for
// nothing on the device — and what reaches history.jsonl equals the same values logged from CPU
// tensors (scalars, histogram counts and statistics, image and mask pixels).
#include <gtest/gtest.h>

#include <chrono>

#include "callback/helpers.h"
#include "run/file_io.h"
#include "run/png_codec.h"
#include "support/gpu.h"
#include "trainscope/torch/log.h"

#ifdef TRAINSCOPE_WITH_CUDA
#include <ATen/cuda/Sleep.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#endif

namespace trainscope {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

LogValues values_on(const torch::Device& device) {
  torch::manual_seed(11);
  auto weights = torch::randn({4096}).to(device);
  auto image = torch::rand({3, 8, 6}).to(device);                         // CHW float in [0, 1]
  auto ids = torch::randint(0, 5, {2, 8, 6}, torch::kLong).to(device);   // two masks
  return {{"loss", torch::tensor(0.125f).to(device)},
          {"weights", Histogram(weights, 32)},
          {"image", Image(image, "chw")},
          {"masks", Mask(ids, Palette::default_for(5))}};
}

std::vector<uint8_t> pixels_of(const fs::path& dir, const json& value) {
  const std::string bytes = detail::read_file((dir / value.at("path").get<std::string>()).string());
  return detail::decode_png(std::vector<uint8_t>(bytes.begin(), bytes.end())).pixels;
}

TEST(LoggerGpu, LogEnqueuesWithoutWaitingAndMatchesTheCpu) {
  TS_REQUIRE_CUDA();
#ifdef TRAINSCOPE_WITH_CUDA
  std::map<std::string, json> rows;
  std::map<std::string, fs::path> dirs;
  for (const char* name : {"cpu", "cuda"}) {
    const torch::Device device(name);
    auto dir = testing::fresh_run_dir(std::string("logger_gpu_") + name);
    RunOptions options;
    options.directory = dir.string();
    auto run = std::make_shared<trainscope::Run>(options);
    Logger logger(run);
    LogValues values = values_on(device);
    logger.log({{"warmup", torch::tensor(1.0f).to(device)}}, 0);  // first use: pinned buffers, plans
    if (device.is_cuda()) {
      run->flush();
      // ~0.2 s of device work ahead of the logging call on the same stream.
      at::cuda::sleep(int64_t(2e8));
      const auto begin = std::chrono::steady_clock::now();
      logger.log(values, 1);
      const double host_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begin).count();
      const cudaError_t busy = cudaStreamQuery(c10::cuda::getCurrentCUDAStream().stream());
      EXPECT_EQ(busy, cudaErrorNotReady) << "the stream finished while log() ran (" << host_ms
                                         << " ms): log() waited for the device";
      EXPECT_LT(host_ms, 100.0) << "log() took as long as the device work ahead of it";
    } else {
      logger.log(values, 1);
    }
    run->finish();
    auto history = testing::read_history(dir);
    ASSERT_EQ(history.size(), 2u) << name;
    rows[name] = history[1];
    dirs[name] = dir;
  }
  const json& cpu = rows["cpu"];
  const json& gpu = rows["cuda"];
  EXPECT_EQ(gpu.at("loss"), cpu.at("loss"));
  EXPECT_EQ(gpu.at("weights").at("values"), cpu.at("weights").at("values"));
  EXPECT_EQ(gpu.at("weights").at("bins"), cpu.at("weights").at("bins"));
  EXPECT_EQ(pixels_of(dirs["cuda"], gpu.at("image")), pixels_of(dirs["cpu"], cpu.at("image")));
  ASSERT_EQ(gpu.at("masks").at("filenames").size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    const json g = {{"path", gpu.at("masks").at("filenames")[i]}}, c = {{"path", cpu.at("masks").at("filenames")[i]}};
    EXPECT_EQ(pixels_of(dirs["cuda"], g), pixels_of(dirs["cpu"], c)) << "mask " << i;
  }
#endif
}

}  // namespace
}  // namespace trainscope
