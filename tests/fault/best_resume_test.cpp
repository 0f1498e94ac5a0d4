// A resumed run keeps its best whatever happened to summary.json: a new checkpoint must beat the
// best the run already reached, never a best forgotten with a damaged summary.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "callback/helpers.h"
#include "support/expect_error.h"
#include "trainscope/error.h"
#include "trainscope/torch/callback.h"

namespace trainscope {
namespace {

namespace fs = std::filesystem;
using testing::fresh_run_dir;
using testing::read_json;

CallbackOptions options_in(const fs::path& dir) {
  CallbackOptions options;
  options.run.directory = dir.string();
  options.run.durability.fsync_replaced_files = false;
  options.save_graph = false;
  options.predictions = 0;
  options.tensorboard = false;
  options.warn = [](const std::string&) {};
  return options;
}

// One batch per epoch reporting `monitored[e]` as val_loss; the weights are set to 10 + the epoch
// index so the checkpoint tells which epoch it holds.
void train(Callback& callback, torch::nn::Linear& model, const std::vector<double>& monitored) {
  torch::optim::SGD optimizer(model->parameters(), 0.0);
  callback.set_model(model);
  callback.set_optimizer(&optimizer);
  callback.on_train_begin();
  for (size_t epoch = 0; epoch < monitored.size(); ++epoch) {
    {
      torch::NoGradGuard no_grad;
      model->weight.fill_(float(10 + epoch));
    }
    callback.on_batch_end(int64_t(epoch), {{"loss", 1.0}});
    callback.on_epoch_end(int64_t(epoch), {{"val_loss", torch::tensor(monitored[epoch], torch::kDouble)}});
  }
  callback.on_train_end();
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void truncate_summary(const fs::path& dir) {
  const auto size = fs::file_size(dir / "summary.json");
  fs::resize_file(dir / "summary.json", size / 2);
}

TEST(FaultBest, ATruncatedSummaryDoesNotResetTheBest) {
  auto dir = fresh_run_dir("fault_truncated_summary");
  {
    Callback callback(options_in(dir));
    torch::nn::Linear model(3, 1);
    train(callback, model, {0.5, 0.2, 0.4});  // best: 0.2 at epoch 1
  }
  const std::string checkpoint = slurp(dir / "checkpoints/model-best.pt");
  truncate_summary(dir);
  Callback resumed(options_in(dir));
  torch::nn::Linear model(3, 1);
  train(resumed, model, {0.9});  // much worse: must not replace the best checkpoint
  ASSERT_TRUE(resumed.best());
  EXPECT_DOUBLE_EQ(*resumed.best(), 0.2);
  EXPECT_EQ(resumed.best_epoch(), 1);
  EXPECT_EQ(slurp(dir / "checkpoints/model-best.pt"), checkpoint) << "the best checkpoint was overwritten";
  EXPECT_DOUBLE_EQ(read_json(dir / "summary.json")["best_val_loss"].get<double>(), 0.2);
}

TEST(FaultBest, WithoutABestPrefixTheBestIsStillKept) {
  auto dir = fresh_run_dir("fault_no_prefix");
  auto options = options_in(dir);
  options.log_best_prefix = std::nullopt;
  {
    Callback callback(options);
    torch::nn::Linear model(3, 1);
    train(callback, model, {0.3});
  }
  const std::string checkpoint = slurp(dir / "checkpoints/model-best.pt");
  Callback resumed(options);
  torch::nn::Linear model(3, 1);
  train(resumed, model, {0.7});
  EXPECT_DOUBLE_EQ(*resumed.best(), 0.3);
  EXPECT_EQ(slurp(dir / "checkpoints/model-best.pt"), checkpoint);
}

TEST(FaultBest, BatchValuesOfTheMonitoredMetricAreNotTheBest) {
  auto dir = fresh_run_dir("fault_batch_values");
  auto options = options_in(dir);
  options.monitor = "loss";
  options.log_batch_frequency = 1;  // batch rows log "loss" too, at 1.0, 1.0, ...
  auto run_epochs = [&](Callback& callback, const std::vector<double>& epoch_losses) {
    torch::nn::Linear model(3, 1);
    callback.set_model(model);
    callback.on_train_begin();
    const int64_t first_step = callback.run().next_step();  // a resumed run continues its steps
    for (size_t e = 0; e < epoch_losses.size(); ++e) {
      callback.on_batch_end(first_step + int64_t(e), {{"loss", 0.01}});  // better than any epoch value
      callback.on_epoch_end(int64_t(e), {{"loss", epoch_losses[e]}});
    }
    callback.on_train_end();
  };
  {
    Callback callback(options);
    run_epochs(callback, {0.5, 0.3});
  }
  truncate_summary(dir);
  Callback resumed(options);
  run_epochs(resumed, {0.2});  // improves on the epoch best 0.3
  EXPECT_DOUBLE_EQ(*resumed.best(), 0.2);
  EXPECT_EQ(resumed.best_epoch(), 0);
}

TEST(FaultBest, TheCheckpointRecordsTheBestWhenHistoryAndSummaryDoNot) {
  auto dir = fresh_run_dir("fault_from_checkpoint");
  {
    Callback callback(options_in(dir));
    torch::nn::Linear model(3, 1);
    train(callback, model, {0.25});
  }
  truncate_summary(dir);
  std::ofstream(dir / "history.jsonl", std::ios::trunc) << "{\"_step\":0,\"_runtime\":1,\"_timestamp\":1,\"loss\":1}\n";
  Callback resumed(options_in(dir));
  torch::nn::Linear model(3, 1);
  train(resumed, model, {0.6});
  EXPECT_DOUBLE_EQ(*resumed.best(), 0.25);
  torch::nn::Linear restored(3, 1);
  auto state = load_checkpoint((dir / "checkpoints/model-best.pt").string(), *restored.ptr());
  EXPECT_DOUBLE_EQ(state->best, 0.25);
}

TEST(FaultBest, AnUnrecoverableBestIsAnErrorNotAReset) {
  auto dir = fresh_run_dir("fault_unrecoverable");
  auto options = options_in(dir);
  options.save_weights_only = true;  // the checkpoint carries no best
  {
    Callback callback(options);
    torch::nn::Linear model(3, 1);
    train(callback, model, {0.25});
  }
  truncate_summary(dir);
  std::ofstream(dir / "history.jsonl", std::ios::trunc) << "{\"_step\":0,\"_runtime\":1,\"_timestamp\":1,\"loss\":1}\n";
  Callback resumed(options);
  torch::nn::Linear model(3, 1);
  resumed.set_model(model);
  test_support::expect_error([&] { resumed.on_train_begin(); }, "model-best.pt");
}

}  // namespace
}  // namespace trainscope
