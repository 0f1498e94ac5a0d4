#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>

#include "callback/helpers.h"
#include "trainscope/error.h"
#include "trainscope/torch/callback.h"

namespace trainscope {
namespace {

namespace fs = std::filesystem;

TEST(Checkpoint, WeightsOnlyLoadsWithTorchLoad) {
  auto dir = testing::fresh_run_dir("weights_only");
  fs::create_directories(dir);
  std::string path = (dir / "w.pt").string();
  torch::nn::Linear saved(3, 2);
  save_checkpoint(path, *saved.ptr());
  torch::nn::Linear loaded(3, 2);
  EXPECT_FALSE(load_checkpoint(path, *loaded.ptr()).has_value());
  EXPECT_TRUE(torch::equal(saved->weight, loaded->weight));
  torch::nn::Linear by_torch(3, 2);
  torch::load(by_torch, path);
  EXPECT_TRUE(torch::equal(saved->bias, by_torch->bias));
}

TEST(Checkpoint, FullStateRestoresModelOptimizerAndCounters) {
  auto dir = testing::fresh_run_dir("full_state");
  fs::create_directories(dir);
  std::string path = (dir / "full.pt").string();
  torch::nn::Linear model(4, 2);
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(0.1));
  model->forward(torch::ones({3, 4})).sum().backward();
  optimizer.step();  // Adam now has moment buffers
  save_checkpoint(path, *model.ptr(), &optimizer, TrainingState{7, 123, 0.25});

  torch::nn::Linear restored(4, 2);
  torch::optim::Adam restored_optimizer(restored->parameters(), torch::optim::AdamOptions(0.1));
  auto state = load_checkpoint(path, *restored.ptr(), &restored_optimizer);
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->epoch, 7);
  EXPECT_EQ(state->step, 123);
  EXPECT_DOUBLE_EQ(state->best, 0.25);
  EXPECT_TRUE(torch::equal(model->weight, restored->weight));
  // Same optimizer state: one more identical step gives identical weights.
  for (auto* m : {&model, &restored}) (*m)->zero_grad(), (*m)->forward(torch::ones({3, 4})).sum().backward();
  optimizer.step();
  restored_optimizer.step();
  EXPECT_TRUE(torch::allclose(model->weight, restored->weight));

  torch::nn::Linear wrong(5, 2);
  EXPECT_THROW(load_checkpoint(path, *wrong.ptr()), Error);
  EXPECT_THROW(load_checkpoint((dir / "missing.pt").string(), *wrong.ptr()), Error);
  EXPECT_THROW(save_checkpoint("/nonexistent-dir/x.pt", *model.ptr()), Error);
}

// SIGKILL a process that saves checkpoints in a loop, at random moments: the file that is left
// always loads and is one complete save (all weights equal to one save's value).
TEST(Checkpoint, KillDuringRepeatedSavesLeavesALoadableFile) {
  auto dir = testing::fresh_run_dir("kill");
  fs::create_directories(dir);
  std::string path = (dir / "model-best.pt").string();
  std::mt19937 random(42);
  int loaded_after_kill = 0;
  for (int round = 0; round < 12; ++round) {
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      torch::nn::Linear model(256, 512);  // 0.5 MB: kills often land mid-write
      torch::NoGradGuard no_grad;
      for (int64_t i = 1;; ++i) {
        model->weight.fill_(static_cast<float>(i));
        model->bias.fill_(static_cast<float>(i));
        save_checkpoint(path, *model.ptr(), nullptr, TrainingState{i, i, double(i)});
      }
    }
    // Wait for the first save, then kill at a random moment of a later one.
    for (int i = 0; i < 2000 && !fs::exists(path); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 40000)(random)));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status));
    ASSERT_TRUE(fs::exists(path)) << "round " << round;
    torch::nn::Linear model(256, 512);
    std::optional<TrainingState> state;
    ASSERT_NO_THROW(state = load_checkpoint(path, *model.ptr())) << "round " << round;
    ASSERT_TRUE(state.has_value());
    float value = static_cast<float>(state->epoch);
    EXPECT_TRUE(torch::all(model->weight == value).item<bool>()) << "round " << round;
    EXPECT_TRUE(torch::all(model->bias == value).item<bool>());
    ++loaded_after_kill;
  }
  EXPECT_EQ(loaded_after_kill, 12);
}

}  // namespace
}  // namespace trainscope
