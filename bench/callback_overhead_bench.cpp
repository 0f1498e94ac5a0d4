// What logging costs a training step: the same convolutional model trained with and without the
// Callback logging every parameter's and every gradient's histogram at every step (the setting
// that made wandb.watch-style logging cost +181% to +513% of a ResNet-50 step), median step time.
#include <ftw.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "harness.h"
#include "trainscope/torch/callback.h"

namespace trainscope::bench {
namespace {

struct ConvNetImpl : torch::nn::Module {
  torch::nn::Sequential body;
  torch::nn::Linear head{nullptr};
  explicit ConvNetImpl(int64_t width) {
    int64_t in = 3;
    for (int i = 0; i < 8; ++i) {
      const int64_t out = width << (i / 2);
      body->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1).stride(i % 2 ? 2 : 1)));
      body->push_back(torch::nn::BatchNorm2d(out));
      body->push_back(torch::nn::ReLU());
      in = out;
    }
    register_module("body", body);
    head = register_module("head", torch::nn::Linear(in, 10));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return head(torch::adaptive_avg_pool2d(body->forward(x), {1, 1}).flatten(1));
  }
};
TORCH_MODULE(ConvNet);

// Removes a directory tree (libtorch exports its own std::filesystem::remove_all, which crashes
// when called from here).
void remove_tree(const std::string& dir) {
  nftw(dir.c_str(), [](const char* path, const struct stat*, int, struct FTW*) { return std::remove(path); }, 16,
       FTW_DEPTH | FTW_PHYS);
}

}  // namespace

TRAINSCOPE_BENCH_CASE(callback_step_overhead) {
  const bool small = ctx.small() || !ctx.on_cuda();
  const int64_t batch = small ? 4 : 64, side = small ? 16 : 64, width = small ? 8 : 64;
  const int steps = small ? 3 : 30;
  torch::manual_seed(0);
  ConvNet model(width);
  model->to(ctx.device());
  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
  auto x = torch::randn({batch, 3, side, side}, ctx.tensor_options());
  auto y = torch::randint(0, 10, {batch}, ctx.tensor_options().dtype(torch::kLong));
  double parameter_bytes = 0;
  int64_t tensors = 0;
  for (const auto& p : model->parameters()) {
    parameter_bytes += double(p.numel()) * 4;
    ++tensors;
  }

  std::string root = "/tmp/trainscope-bench-callback-XXXXXX";
  if (!mkdtemp(root.data())) throw std::runtime_error("callback_step_overhead: cannot create a temporary directory");
  CallbackOptions options;
  options.log_weights = options.log_gradients = true;
  options.histogram_frequency = 1;  // every step
  options.save_model = options.save_graph = false;
  options.run.root = root;
  options.warn = [](const std::string&) {};
  Callback callback(options);
  callback.set_model(model);
  callback.on_train_begin();

  int64_t step = 0;
  auto train_step = [&](bool logged) {
    optimizer.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(model->forward(x), y);
    loss.backward();
    if (logged) callback.after_backward();
    optimizer.step();
    if (logged) callback.on_batch_end(step, {{"loss", loss.detach()}});
    ++step;
  };
  // Each timed step ends with the device idle, so a step's time includes all the device work it
  // enqueued (the callback's histograms too) but not the previous step's.
  const auto ms = ctx.time_side_by_side({[&] { train_step(true); }, [&] { train_step(false); }}, steps, 3);
  callback.on_train_end();
  remove_tree(root);

  CaseResult r = ctx.new_case("callback_step_overhead", 2 * parameter_bytes);
  r.about = {{"model", "8 conv + BN layers, width " + std::to_string(width)},
             {"batch", {batch, 3, side, side}},
             {"histogram_tensors_per_step", 2 * tensors},
             {"overhead_percent", 100.0 * (ms[0] - ms[1]) / ms[1]}};
  r.add("trainscope", ms[0]);  // the step with the Callback logging every histogram
  r.add("step_without_logging", ms[1]);
  ctx.report(std::move(r));
}

}  // namespace trainscope::bench
