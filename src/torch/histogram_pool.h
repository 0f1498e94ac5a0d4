#pragma once
// Histograms of a tensor list enqueued on the device with reused HistogramPlans, resolved on the
// run's writer thread (a PendingPart). Shared by the Callback's weight/gradient histograms and
// the logger's Histogram values (docs/callback.md#no-host-synchronisation).
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "trainscope/ops/histogram.h"
#include "trainscope/run/run.h"
#include "trainscope/torch.h"

namespace trainscope::detail {

constexpr int kMaxPlansInFlight = 4;  // histogram results the writer may still be reading

// Reusable HistogramPlans for one tensor list. A plan is out while its step waits on the writer
// thread and comes back when the step is written; the pool only grows when the writer is behind.
struct PlanPool {
  explicit PlanPool(int bins = kDefaultHistogramBins) : bins(bins) {}
  std::mutex mutex;
  int bins;
  std::vector<int64_t> numels;
  Device device;
  std::vector<std::unique_ptr<HistogramPlan>> free;
  // Plans for a list that changed: freeing device memory synchronises the device, so they are
  // released at a moment the owner chooses (release_retired), not inside a training step.
  std::vector<std::unique_ptr<HistogramPlan>> retired;
  int outstanding = 0;

  // Resets the pool for a new tensor list; true if it changed.
  bool use_list(const std::vector<int64_t>& list_numels, const Device& list_device);
  // Builds one plan ahead of the first logging step, so that step allocates nothing.
  void prepare(const std::vector<torch::Tensor>& tensors);
  void release_retired();
};

// A histogram result as the run records it (HistogramValue), or nullopt when it has no finite value.
std::optional<HistogramValue> histogram_value(const HistogramResult& result);

// Enqueues histograms of `named` (key, tensor) on their device's current stream. Returns nullptr
// when the pool has kMaxPlansInFlight plans out (the writer is behind): `*skipped` is then set.
std::unique_ptr<PendingPart> enqueue_histograms(const std::shared_ptr<PlanPool>& pool,
                                                const std::vector<std::pair<std::string, torch::Tensor>>& named,
                                                bool* skipped = nullptr);

}  // namespace trainscope::detail
