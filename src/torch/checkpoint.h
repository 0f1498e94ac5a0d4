#pragma once
// Reading a checkpoint file in two steps, check then apply, so that a caller (the sharded load,
// docs/distributed.md#checkpoints) can refuse a checkpoint on every rank before any rank's module
// changes. load_checkpoint() is check + apply.
#include <optional>
#include <string>

#include "trainscope/torch/callback.h"

namespace trainscope::detail {

class CheckpointReader {
 public:
  // Parses the archive written by save_checkpoint(): from the file at `path`, or from `bytes`
  // already read from it (`path` then only names it in errors). `op` prefixes every Error.
  CheckpointReader(const char* op, const std::string& path);
  CheckpointReader(const char* op, const std::string& path, const std::string& bytes);

  bool is_full() const { return full_; }  // holds the training state (not weights only)
  // Throws Error when the archive lacks one of the module's tensors or holds one of another
  // shape. Changes nothing.
  void check(const torch::nn::Module& module);
  // Loads the tensors into `module` (and the optimizer state, when both are there); returns the
  // training state of a full checkpoint.
  std::optional<TrainingState> apply(torch::nn::Module& module, torch::optim::Optimizer* optimizer);

 private:
  void read_layout();
  std::string op_, path_;
  torch::serialize::InputArchive archive_;
  torch::serialize::InputArchive model_;  // the module's archive: archive_ itself or its "model"
  bool full_ = false;
};

}  // namespace trainscope::detail
