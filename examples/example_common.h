#pragma once
// Command-line handling and progress printing shared by the examples.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include <torch/torch.h>

namespace example {

struct Args {
  int epochs = 5;
  int train_size = 1024;
  int batch_size = 32;
  std::string device = "auto";  // auto | cpu | cuda
  std::string root = "runs";
  std::string run_id;
};

inline Args parse_args(int argc, char** argv, Args args) {
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << flag << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (flag == "--epochs") args.epochs = std::stoi(value());
    else if (flag == "--train-size") args.train_size = std::stoi(value());
    else if (flag == "--batch-size") args.batch_size = std::stoi(value());
    else if (flag == "--device") args.device = value();
    else if (flag == "--root") args.root = value();
    else if (flag == "--run-id") args.run_id = value();
    else {
      std::cerr << "usage: " << argv[0]
                << " [--epochs N] [--train-size N] [--batch-size N] [--device auto|cpu|cuda] [--root DIR] [--run-id ID]\n";
      std::exit(flag == "--help" ? 0 : 2);
    }
  }
  return args;
}

inline torch::Device pick_device(const std::string& name) {
  if (name == "cuda" || (name == "auto" && torch::cuda::is_available())) return torch::Device(torch::kCUDA);
  return torch::Device(torch::kCPU);
}

// One line per batch, rewritten in place; a newline at the end of each epoch.
inline void progress(int epoch, int epochs, int batch, int batches, double loss, const char* extra = "") {
  std::printf("\repoch %d/%d [%3d/%3d] loss %.4f %s", epoch + 1, epochs, batch + 1, batches, loss, extra);
  std::fflush(stdout);
}

}  // namespace example
