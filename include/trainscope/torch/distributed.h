#pragma once
// Distributed training on c10d process groups (docs/distributed.md). Rank 0 owns the run
// directory, TensorBoard files, checkpoints and upload; the other ranks write nothing but their
// shards of a sharded checkpoint (below). These
// functions are collectives: every rank of the group calls them in the same order with the same
// names. Without a group (`group` null) each is the single-process operation and nothing changes.
//
// Errors are agreed: before any data collective the ranks exchange a small header (status,
// error text, list length, names); when one rank's input is bad every rank throws the same
// trainscope::Error naming that rank. A rank that never arrives (it died, or threw elsewhere)
// makes the others throw when the group's timeout (or `timeout`) expires.
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>

#include "trainscope/torch.h"

namespace trainscope {

enum class Reduce { Mean, Sum, Min, Max };

struct DistributedOptions {
  c10::intrusive_ptr<::c10d::ProcessGroup> group;  // null: single process
  // Tensors whose ranks hold different shards of one logical tensor (histogrammed across ranks);
  // every other tensor is replicated (DDP) and histogrammed once, on rank 0. A name is sharded
  // when it is in `sharded` or `is_sharded` returns true for it.
  std::set<std::string> sharded;
  std::function<bool(const std::string& name)> is_sharded;
  // Reduction of a metric across ranks; Mean (of the ranks' values, unweighted) when not listed.
  std::map<std::string, Reduce> reduce;
  // Wait limit of each collective; zero: the group's own timeout. On NCCL it is handed to c10d's
  // watchdog (the host does not wait for the collective either way).
  std::chrono::milliseconds timeout{0};
  // Exchange the agreement header before the data collectives (the same setting on every rank).
  // On NCCL the header is read on the host (one synchronisation per call); false keeps metric
  // reduction free of host syncs and leaves a histogram call of replicated tensors without any
  // collective, but a bad input on one rank then surfaces on the others as the timeout instead of
  // a named error.
  bool check_agreement = true;
};

bool is_distributed(const DistributedOptions& options);  // a group with more than one rank
int rank(const DistributedOptions& options);              // 0 without a group
int world_size(const DistributedOptions& options);        // 1 without a group
inline bool is_rank0(const DistributedOptions& options) { return rank(options) == 0; }

// Each metric (a scalar tensor on any device, or a one-element tensor) reduced across ranks by
// its Reduce, with one packed data collective (after the agreement header): the ranks' values are gathered and reduced in rank
// order, so every rank gets bit-identical results. The results are float64 scalar tensors on the
// collective's device (the metrics' CUDA device for NCCL, stream-ordered; else the CPU).
std::map<std::string, torch::Tensor> reduce_metrics(const DistributedOptions& options,
                                                    const std::map<std::string, torch::Tensor>& metrics);
// One host value reduced across ranks, e.g. the monitored metric before best tracking, so every
// rank takes the same "improved" decision. Blocks until the result is on the host.
double reduce_value(const DistributedOptions& options, const std::string& name, double value);

// Histograms of named tensors. Sharded tensors: exact across ranks (the histogram of the
// concatenation of every rank's shard, identical to the single-process op up to the summation
// order of sum, sum of squares and std), available on every rank; one packed collective per pass
// for the whole list. Replicated tensors: the single-process op on rank 0, nullopt on the others.
// Shards may differ in size and dtype between ranks and may be empty.
std::vector<std::optional<HistogramResult>> distributed_histograms(
    const DistributedOptions& options, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
    HistogramOptions histogram_options = {});

// ---- Sharded checkpoints (docs/distributed.md#checkpoints) ----
//
// For ZeRO/FSDP-style training, where every rank holds a different slice of the parameters (and
// optimizer state): each rank saves its own module, and rank 0 writes an index naming every
// rank's file. Both functions are collectives (every rank calls them, with the same `name`).
//
// Layout in `directory`: "<name>.shard-<rank+1>-of-<world>.g<generation>.pt" per rank (5-digit
// numbers; save_checkpoint()'s format, written to a temp file, fsynced and renamed) and
// "<name>.index.json" (world size, generation, training state, every shard's file, size and
// SHA-256). Each save writes a new generation; the atomic rename of the index is the commit
// point: a save that fails or is killed before it leaves the previous checkpoint as it was and
// loadable, and the previous generation's shards are removed only after it.
//
// `directory` is taken from rank 0 (the other ranks' argument is ignored, e.g. ""), so it must be
// on a filesystem every rank sees at that path. Before committing, rank 0 reads every rank's
// shard and compares its size and SHA-256 with what that rank wrote; a shard it cannot see, or
// sees differently, fails the save on every rank.
//
// Errors are agreed: a failure on any rank (rank 0's directory, a rank's write, the check above,
// the index) throws the same trainscope::Error on every rank, naming the rank; a rank that never
// arrives fails the others after the timeout, as for the other collectives.

struct TrainingState;  // trainscope/torch/callback.h

// Saves this rank's `module` (with the `optimizer`'s state and `state`, when given: a full
// checkpoint, as save_checkpoint()) as its shard of a new generation and commits the index.
// `name`: [A-Za-z0-9._-]+. Returns the index's path (on every rank).
std::string save_sharded_checkpoint(const DistributedOptions& options, const std::string& directory,
                                    torch::nn::Module& module, const torch::optim::Optimizer* optimizer = nullptr,
                                    const TrainingState* state = nullptr, const std::string& name = "model");

// Loads the checkpoint of "<directory>/<name>.index.json" (rank 0's directory): rank r loads the
// shard of rank r into its `module` (and `optimizer`). Refused on every rank, before any rank's
// module changes, when the index is missing or unreadable, was written by another world size, or
// a rank's shard is missing, differs from the index's size or SHA-256, or lacks a tensor of the
// module or holds one of another shape. Returns the training state of a full checkpoint, nullopt
// for weights only (the same on every rank).
std::optional<TrainingState> load_sharded_checkpoint(const DistributedOptions& options, const std::string& directory,
                                                     torch::nn::Module& module,
                                                     torch::optim::Optimizer* optimizer = nullptr,
                                                     const std::string& name = "model");

}  // namespace trainscope
