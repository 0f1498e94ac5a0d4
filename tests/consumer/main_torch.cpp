// Trains a tiny model for two steps through the installed libtorch adapter's Callback, the way a
// user's program would, and checks the run directory it wrote. Uses only trainscope::torch's API,
// so the executable needs libtrainscope_torch to find libtrainscope itself (its RUNPATH).
#include <trainscope/torch/callback.h>

#include <cstdio>
#include <filesystem>
#include <string>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer_torch <runs-root>\n");
    return 2;
  }
  torch::nn::Linear model(4, 2);
  torch::optim::SGD optimizer(model->parameters(), 0.1);
  trainscope::CallbackOptions options;
  options.monitor = "loss";
  options.log_gradients = true;
  options.run.root = argv[1];
  options.run.run_id = "consumer";
  trainscope::Callback callback(options);
  callback.set_model(model);
  callback.set_optimizer(&optimizer);
  callback.on_train_begin();
  auto x = torch::randn({8, 4});
  auto y = torch::randint(0, 2, {8}, torch::kLong);
  for (int64_t step = 0; step < 2; ++step) {
    optimizer.zero_grad();
    auto loss = torch::cross_entropy_loss(model->forward(x), y);
    loss.backward();
    callback.after_backward();
    optimizer.step();
    callback.on_batch_end(step, {{"loss", loss.detach()}});
  }
  callback.on_epoch_end(0, {{"loss", 0.5}});
  callback.on_train_end();

  namespace fs = std::filesystem;
  const fs::path run = fs::path(argv[1]) / "consumer";
  const bool ok = fs::is_directory(run) && fs::file_size(run / "history.jsonl") > 0 &&
                  fs::exists(run / "summary.json") && fs::exists(callback.best_checkpoint_path());
  std::printf("consumer_torch: %s (%s)\n", ok ? "ok" : "WRONG", run.c_str());
  return ok ? 0 : 1;
}
