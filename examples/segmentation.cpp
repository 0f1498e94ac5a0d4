// Semantic segmentation on synthetic 32×32 scenes (background, squares, discs) with a small fully
// convolutional network, logged with trainscope's Callback: (input, output, target) triplets in
// class colours, histograms, the best checkpoint. Runs on the CPU or CUDA; makes its own data.
#include <trainscope/torch/callback.h>

#include "example_common.h"

namespace {

constexpr int kSide = 32;

// Images [N, 1, 32, 32] and class masks [N, 32, 32]: 0 background, 1 square, 2 disc.
std::pair<torch::Tensor, torch::Tensor> make_scenes(int count, uint64_t seed) {
  torch::manual_seed(seed);
  auto coords = torch::arange(kSide, torch::kFloat);
  auto rows = coords.view({1, kSide, 1});
  auto cols = coords.view({1, 1, kSide});
  auto square_at = torch::randint(2, 14, {count, 2}).to(torch::kFloat);
  auto disc_at = torch::randint(18, 28, {count, 2}).to(torch::kFloat);
  auto sq_r = square_at.select(1, 0).view({count, 1, 1}), sq_c = square_at.select(1, 1).view({count, 1, 1});
  auto square = (rows >= sq_r) & (rows < sq_r + 8) & (cols >= sq_c) & (cols < sq_c + 8);
  auto dr = disc_at.select(1, 0).view({count, 1, 1}), dc = disc_at.select(1, 1).view({count, 1, 1});
  auto disc = ((rows - dr).pow(2) + (cols - dc).pow(2)) < 16;
  auto mask = torch::zeros({count, kSide, kSide}, torch::kLong);
  mask.masked_fill_(square, 1);
  mask.masked_fill_(disc, 2);
  // Squares are bright, discs dim: the net must use intensity and shape.
  auto image = square.to(torch::kFloat) * 1.0f + disc.to(torch::kFloat) * 0.5f + 0.15f * torch::randn({count, kSide, kSide});
  return {image.unsqueeze(1), mask};
}

struct SegNetImpl : torch::nn::Module {
  torch::nn::Sequential body;
  SegNetImpl()
      : body(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 16, 3).padding(1)), torch::nn::ReLU(),
             torch::nn::Conv2d(torch::nn::Conv2dOptions(16, 16, 3).padding(1)), torch::nn::ReLU(),
             torch::nn::Conv2d(torch::nn::Conv2dOptions(16, 3, 1))) {
    register_module("body", body);
  }
  torch::Tensor forward(const torch::Tensor& x) { return body->forward(x); }  // logits [N, 3, H, W]
};
TORCH_MODULE(SegNet);

int train(int argc, char** argv) {
  example::Args defaults;
  defaults.train_size = 512;
  defaults.batch_size = 16;
  auto args = example::parse_args(argc, argv, defaults);
  torch::Device device = example::pick_device(args.device);
  auto [train_x, train_y] = make_scenes(args.train_size, 1);
  auto [val_x, val_y] = make_scenes(64, 2);
  train_x = train_x.to(device), train_y = train_y.to(device);
  val_x = val_x.to(device), val_y = val_y.to(device);

  SegNet model;
  model->to(device);
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(5e-3));

  trainscope::CallbackOptions options;
  options.monitor = "val_loss";
  options.log_gradients = true;
  options.histogram_frequency = 10;
  options.log_batch_frequency = 5;
  options.labels = {"background", "square", "disc"};
  options.input_type = trainscope::DataType::Image;
  options.output_type = trainscope::DataType::SegmentationMask;
  options.class_colors = {{0.f, 0.f, 0.f}, {1.f, 0.5f, 0.f}, {0.f, 0.6f, 1.f}};
  options.predictions = 8;
  options.validation_inputs = val_x;
  options.validation_targets = val_y;
  options.compute_flops = true;
  options.run.root = args.root;
  options.run.run_id = args.run_id;
  trainscope::Callback callback(options);
  callback.set_model(model);
  callback.set_optimizer(&optimizer);
  callback.set_params({{"epochs", int64_t(args.epochs)}, {"batch_size", int64_t(args.batch_size)}});
  callback.on_train_begin();
  std::printf("segmentation on %s, run directory %s\n", device.str().c_str(), callback.run().directory().c_str());

  int batches = (args.train_size + args.batch_size - 1) / args.batch_size;
  int64_t step = 0;
  for (int epoch = 0; epoch < args.epochs; ++epoch) {
    model->train();
    torch::Tensor loss;
    for (int b = 0; b < batches; ++b, ++step) {
      auto x = train_x.narrow(0, b * args.batch_size, std::min(args.batch_size, args.train_size - b * args.batch_size));
      auto y = train_y.narrow(0, b * args.batch_size, x.size(0));
      optimizer.zero_grad();
      loss = torch::cross_entropy_loss(model->forward(x), y);
      loss.backward();
      callback.after_backward();
      optimizer.step();
      callback.on_batch_end(step, {{"loss", loss.detach()}});
      if (b % 8 == 0 || b + 1 == batches) example::progress(epoch, args.epochs, b, batches, loss.item<double>());
    }
    torch::Tensor val_loss, pixel_acc;
    {
      torch::NoGradGuard no_grad;
      model->eval();
      auto logits = model->forward(val_x);
      val_loss = torch::cross_entropy_loss(logits, val_y);
      pixel_acc = (logits.argmax(1) == val_y).to(torch::kFloat).mean();
    }
    callback.on_epoch_end(epoch, {{"val_loss", val_loss}, {"val_pixel_acc", pixel_acc}});
    char line[96];
    std::snprintf(line, sizeof line, "val_loss %.4f pixel_acc %.3f", val_loss.item<double>(), pixel_acc.item<double>());
    example::epoch_summary(epoch, args.epochs, line);
  }
  callback.on_train_end();
  std::printf("run directory:   %s\n", callback.run().directory().c_str());
  std::printf("best checkpoint: %s\n", callback.best_checkpoint_path().c_str());
  std::printf("images:          %s\n", callback.run().path("media/images").c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return example::run_main("segmentation", [&] { return train(argc, argv); });
}
