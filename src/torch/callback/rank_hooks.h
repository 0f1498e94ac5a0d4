#pragma once
// What the Callback does differently under a c10d process group (docs/distributed.md#the-callback):
// metrics reduced across ranks before they are logged or tracked, and histograms of sharded
// tensors computed across ranks. Without a group every function is the single-process identity.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "torch/callback/policy.h"
#include "trainscope/run/run.h"
#include "trainscope/torch/callback.h"
#include "trainscope/torch/distributed.h"

namespace trainscope::detail {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Whether the parameter `name` (its gradient too) is a shard of a larger tensor.
bool is_sharded_tensor(const DistributedOptions& options, const std::string& name);

// `named` split into (sharded, replicated); without a group everything is replicated.
std::pair<NamedTensors, NamedTensors> split_sharded(const DistributedOptions& options, const NamedTensors& named);

// Every metric reduced across ranks by its Reduce (one collective on every rank); unchanged
// without a group. The results are scalar tensors; reading one on the host is the caller's choice.
Metrics reduce_across_ranks(const DistributedOptions& options, const Metrics& metrics);

// Rank 0's best (restored on resume, docs/callback.md#best-tracking) given to every rank, so every
// rank takes the same "improved" decision, as a sharded checkpoint (a collective) needs. One
// collective on every rank; nothing without a group. `rank0_error` (rank 0: why its start failed)
// makes the other ranks throw an Error quoting it instead of going on without rank 0.
void share_best(const DistributedOptions& options, BestTracker& best, const std::string& rank0_error = "");

// Histograms "<prefix><name>" of sharded tensors across ranks (a collective: every rank calls it
// with the same names in the same order). Returns the ready part on rank 0, nullptr elsewhere.
std::unique_ptr<PendingPart> sharded_histograms(const DistributedOptions& options, const std::string& prefix,
                                                const NamedTensors& sharded, int bins);

}  // namespace trainscope::detail
