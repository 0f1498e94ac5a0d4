#pragma once
// Internal parts of the sharded checkpoints (trainscope/torch/distributed.h,
// docs/distributed.md#checkpoints): the Callback's choice of checkpoint, and a test seam.
#include <functional>
#include <string>

#include "trainscope/torch/distributed.h"

namespace trainscope::distributed_detail {

// Whether the Callback saves its best checkpoint sharded: a parameter or buffer of `module` is
// sharded by the options (`sharded`, `is_sharded`). Sharded activations alone, as in a DDP job
// that histograms them across ranks, keep rank 0's single checkpoint. False without a module or
// without a group of more than one rank (nothing changes then).
bool saves_sharded(const DistributedOptions& options, const torch::nn::Module* module);
// The Callback's best checkpoint, relative to the run directory: "checkpoints/model-best.pt", or
// the index "checkpoints/model-best.index.json" when saves_sharded(options, module).
std::string best_checkpoint_file(const DistributedOptions& options, const torch::nn::Module* module);
// The checkpoint name (file prefix) of the Callback's sharded best checkpoint.
inline const char* best_checkpoint_name() { return "model-best"; }

// Test seam: called by save_sharded_checkpoint at `stage` "shard-written" (every rank, after its
// shard is renamed into place and hashed, before reporting it; `path` is the shard) and
// "before-index" (rank 0, after checking the shards, before the index is written; `path` is the
// index). A hook may change files, throw, or end the process, to simulate a filesystem rank 0
// does not share or a crash before the commit point. Empty: none (the default).
using SaveHook = std::function<void(const std::string& stage, const std::string& path)>;
void set_save_hook(SaveHook hook);

}  // namespace trainscope::distributed_detail
