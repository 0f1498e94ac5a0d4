// Image classification on synthetic 16×16 images (horizontal stripes, vertical stripes, a blob),
// logged with trainscope's Callback: metrics, histograms, captioned examples, an evaluation table,
// the best checkpoint, graph.json and FLOPs. Runs on the CPU or CUDA; makes its own data.
#include <trainscope/torch/callback.h>

#include "example_common.h"

namespace {

constexpr int kSide = 16;
const std::vector<std::string> kLabels = {"horizontal", "vertical", "blob"};

// `count` images [N, 1, 16, 16] with labels [N]. Class k is pattern k at a random, often faint,
// strength, overlaid with a weaker pattern of another class and strong noise: hard enough that
// validation accuracy keeps improving over several epochs (so the best checkpoint is replaced
// more than once) instead of reaching 1.0 in the first.
std::pair<torch::Tensor, torch::Tensor> make_images(int count, uint64_t seed) {
  torch::manual_seed(seed);
  auto labels = torch::randint(0, 3, {count}, torch::kLong);
  auto coords = torch::arange(kSide, torch::kFloat);
  auto rows = coords.view({kSide, 1}).expand({kSide, kSide});
  auto cols = coords.view({1, kSide}).expand({kSide, kSide});
  auto phase = torch::rand({count, 1, 1}) * 6.283f;
  auto horizontal = torch::sin(rows.unsqueeze(0) * 1.2f + phase);
  auto vertical = torch::sin(cols.unsqueeze(0) * 1.2f + phase);
  auto center = torch::rand({count, 2, 1, 1}) * 8 + 4;
  auto blob = torch::exp(-((rows.unsqueeze(0) - center.select(1, 0)).pow(2) +
                           (cols.unsqueeze(0) - center.select(1, 1)).pow(2)) / 8.0f) * 2 - 1;
  auto pattern = [&](const torch::Tensor& k) {
    auto pick = k.view({count, 1, 1});
    return torch::where(pick == 0, horizontal, torch::where(pick == 1, vertical, blob));
  };
  auto distractor = (labels + torch::randint(1, 3, {count}, torch::kLong)) % 3;  // another class
  auto strength = torch::rand({count, 1, 1}) * 0.5f + 0.15f;
  auto overlap = strength * torch::rand({count, 1, 1}) * 0.6f;
  auto images = strength * pattern(labels) + overlap * pattern(distractor);
  images = images + 0.9f * torch::randn_like(images);
  return {images.unsqueeze(1), labels};
}

struct NetImpl : torch::nn::Module {
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::Linear head{nullptr};
  NetImpl() {
    conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 8, 3).padding(1)));
    conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(8, 16, 3).padding(1)));
    head = register_module("head", torch::nn::Linear(16, 3));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = torch::max_pool2d(torch::relu(conv1->forward(x)), 2);
    h = torch::relu(conv2->forward(h));
    return head->forward(h.mean({2, 3}));
  }
};
TORCH_MODULE(Net);

int train(int argc, char** argv) {
  example::Args defaults;
  auto args = example::parse_args(argc, argv, defaults);
  torch::Device device = example::pick_device(args.device);
  auto [train_x, train_y] = make_images(args.train_size, 1);
  auto [val_x, val_y] = make_images(256, 2);
  train_x = train_x.to(device), train_y = train_y.to(device);
  val_x = val_x.to(device), val_y = val_y.to(device);

  Net model;
  model->to(device);
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(3e-3));

  trainscope::CallbackOptions options;
  options.monitor = "val_acc";               // mode auto → max
  options.log_weights = true;
  options.log_gradients = true;
  options.histogram_frequency = 20;          // batches
  options.log_batch_frequency = 10;
  options.labels = kLabels;
  options.predictions = 16;
  options.validation_inputs = val_x;
  options.validation_targets = val_y;
  options.log_evaluation = true;
  options.log_evaluation_frequency = 0;      // at the end of training
  options.compute_flops = true;
  options.run.root = args.root;
  options.run.run_id = args.run_id;
  options.run.name = "classifier";           // wandb.init(name=, tags=, job_type=)
  options.run.tags = {"example", "cpu-or-cuda"};
  options.run.job_type = "train";
  trainscope::Callback callback(options);
  callback.set_model(model);
  callback.set_optimizer(&optimizer);
  // wandb.define_metric("val_loss", summary="min"): summary.json keeps its minimum and last value.
  trainscope::MetricDefinition val_loss_metric;
  val_loss_metric.summary.min = val_loss_metric.summary.last = true;
  val_loss_metric.goal = trainscope::MetricGoal::Minimize;
  callback.run().define_metric("val_loss", val_loss_metric);
  callback.set_params({{"epochs", int64_t(args.epochs)}, {"batch_size", int64_t(args.batch_size)},
                       {"learning_rate", 3e-3}, {"device", device.str()}});
  callback.on_train_begin();
  std::printf("classifier on %s, run directory %s\n", device.str().c_str(), callback.run().directory().c_str());

  int batches = (args.train_size + args.batch_size - 1) / args.batch_size;
  int64_t step = 0;
  for (int epoch = 0; epoch < args.epochs; ++epoch) {
    model->train();
    auto order = torch::randperm(args.train_size, torch::TensorOptions().device(device).dtype(torch::kLong));
    torch::Tensor loss;
    for (int b = 0; b < batches; ++b, ++step) {
      auto index = order.narrow(0, b * args.batch_size, std::min(args.batch_size, args.train_size - b * args.batch_size));
      optimizer.zero_grad();
      loss = torch::cross_entropy_loss(model->forward(train_x.index_select(0, index)), train_y.index_select(0, index));
      loss.backward();
      callback.after_backward();
      optimizer.step();
      callback.on_batch_end(step, {{"loss", loss.detach()}});  // a device scalar: no sync
      if (b % 8 == 0 || b + 1 == batches) example::progress(epoch, args.epochs, b, batches, loss.item<double>());
    }
    model->eval();
    torch::Tensor val_loss, val_acc, logits;
    {
      torch::NoGradGuard no_grad;
      logits = model->forward(val_x);
      val_loss = torch::cross_entropy_loss(logits, val_y);
      val_acc = (logits.argmax(1) == val_y).to(torch::kFloat).mean();
    }
    callback.on_epoch_end(epoch, {{"loss", loss.detach()}, {"val_loss", val_loss}, {"val_acc", val_acc}});
    // Anything else, wandb.log-style, at the epoch's step (its last batch): joins the epoch row.
    callback.log({{"val_logits", trainscope::Histogram(logits)}}, step - 1);
    char line[96];
    std::snprintf(line, sizeof line, "val_loss %.4f val_acc %.3f", val_loss.item<double>(), val_acc.item<double>());
    example::epoch_summary(epoch, args.epochs, line);
  }
  callback.on_train_end();
  std::printf("GFLOPs per example forward: %.6f\n", callback.get_flops());
  std::printf("best val_acc %.3f at epoch %lld\n", callback.best().value_or(0), (long long)callback.best_epoch());
  std::printf("run directory:   %s\n", callback.run().directory().c_str());
  std::printf("best checkpoint: %s\n", callback.best_checkpoint_path().c_str());
  std::printf("images:          %s\n", callback.run().path("media/images").c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return example::run_main("classifier", [&] { return train(argc, argv); });
}
