#include "torch/callback/rank_hooks.h"

#include <cstdio>

#include "torch/distributed/collective.h"
#include "trainscope/error.h"
#include "torch/histogram_pool.h"

namespace trainscope::detail {

namespace {

// Histograms already on the host (computed by the collectives), joined to the row as they are.
class ReadyHistograms : public PendingPart {
 public:
  explicit ReadyHistograms(std::map<std::string, HistogramValue> histograms) : histograms_(std::move(histograms)) {}
  void resolve(StepRecord& record) override {
    for (auto& [key, value] : histograms_) record.histograms[key] = std::move(value);
  }

 private:
  std::map<std::string, HistogramValue> histograms_;
};

}  // namespace

void share_best(const DistributedOptions& options, BestTracker& best, const std::string& rank0_error) {
  if (!is_distributed(options)) return;
  std::string mine;
  if (is_rank0(options)) {
    if (!rank0_error.empty()) {
      mine = "!" + rank0_error;
    } else if (best.best()) {
      char text[80];
      std::snprintf(text, sizeof text, "%a %lld", *best.best(), static_cast<long long>(best.best_epoch()));
      mine = text;  // hexadecimal: the exact double
    }
  }
  const auto all = distributed_detail::gather_strings(options, "Callback::on_train_begin", mine);
  if (is_rank0(options) || all.empty() || all[0].empty()) return;
  if (all[0][0] == '!')
    throw Error("Callback::on_train_begin: rank 0 failed to start the run: " + all[0].substr(1));
  double value = 0;
  long long epoch = -1;
  if (std::sscanf(all[0].c_str(), "%la %lld", &value, &epoch) == 2) best.restore(value, epoch);
}

bool is_sharded_tensor(const DistributedOptions& options, const std::string& name) {
  if (!is_distributed(options)) return false;
  return options.sharded.count(name) > 0 || (options.is_sharded && options.is_sharded(name));
}

std::pair<NamedTensors, NamedTensors> split_sharded(const DistributedOptions& options, const NamedTensors& named) {
  std::pair<NamedTensors, NamedTensors> split;
  for (const auto& entry : named) (is_sharded_tensor(options, entry.first) ? split.first : split.second).push_back(entry);
  return split;
}

Metrics reduce_across_ranks(const DistributedOptions& options, const Metrics& metrics) {
  if (!is_distributed(options) || metrics.empty()) return metrics;
  std::map<std::string, torch::Tensor> tensors;
  // An undefined or non-scalar tensor goes in as it is: reduce_metrics's agreement header turns it
  // into the same Error on every rank instead of leaving the others waiting in the collective.
  for (const auto& [key, metric] : metrics) {
    if (metric.is_undefined_tensor()) tensors[key] = torch::Tensor();
    else tensors[key] = metric.is_tensor() ? metric.tensor().detach() : torch::scalar_tensor(metric.value(), torch::kDouble);
  }
  Metrics reduced;
  for (auto& [key, tensor] : reduce_metrics(options, tensors)) reduced.emplace(key, Metric(tensor));
  return reduced;
}

std::unique_ptr<PendingPart> sharded_histograms(const DistributedOptions& options, const std::string& prefix,
                                                const NamedTensors& sharded, int bins) {
  if (sharded.empty()) return nullptr;
  HistogramOptions histogram_options;
  histogram_options.bins = bins;
  auto results = distributed_histograms(options, sharded, histogram_options);
  if (!is_rank0(options)) return nullptr;
  std::map<std::string, HistogramValue> ready;
  for (std::size_t i = 0; i < results.size(); ++i)
    if (results[i])
      if (auto h = histogram_value(*results[i])) ready[prefix + sharded[i].first] = std::move(*h);
  return std::make_unique<ReadyHistograms>(std::move(ready));
}

}  // namespace trainscope::detail
