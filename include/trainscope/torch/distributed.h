#pragma once
// Distributed training on c10d process groups (docs/distributed.md). Rank 0 owns the run
// directory, TensorBoard files, checkpoints and upload; the other ranks write nothing. These
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

}  // namespace trainscope
