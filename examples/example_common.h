#pragma once
// Command-line handling and progress printing shared by the examples.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include <unistd.h>

#include <torch/torch.h>

#include "trainscope/error.h"

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

// On a terminal the progress line is rewritten in place (\r); in a log or pipe, where \r would
// run every update together on one line, each update is a line of its own.
inline bool stdout_is_terminal() {
  static const bool terminal = ::isatty(::fileno(stdout)) == 1;
  return terminal;
}

inline void progress(int epoch, int epochs, int batch, int batches, double loss, const char* extra = "") {
  std::printf(stdout_is_terminal() ? "\repoch %d/%d [%3d/%3d] loss %.4f %s" : "epoch %d/%d [%3d/%3d] loss %.4f %s\n",
              epoch + 1, epochs, batch + 1, batches, loss, extra);
  std::fflush(stdout);
}

// The end of an epoch: appended to the progress line on a terminal, a line of its own otherwise.
inline void epoch_summary(int epoch, int epochs, const std::string& text) {
  if (stdout_is_terminal()) std::printf(" %s\n", text.c_str());
  else std::printf("epoch %d/%d %s\n", epoch + 1, epochs, text.c_str());
  std::fflush(stdout);
}

// Runs an example's body; an error (trainscope's, libtorch's, any other) becomes a message on
// stderr and exit status 1 instead of std::terminate's abort.
template <typename Body>
int run_main(const char* name, Body body) {
  try {
    return body();
  } catch (const trainscope::Error& e) {
    std::fprintf(stderr, "%s: error: %s\n", name, e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", name, e.what());
  }
  return 1;
}

}  // namespace example
