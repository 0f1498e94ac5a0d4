#include "torch/histogram_pool.h"

namespace trainscope::detail {

namespace {

class HistogramPart : public PendingPart {
 public:
  HistogramPart(std::shared_ptr<PlanPool> pool, std::unique_ptr<HistogramPlan> plan,
                std::vector<std::string> keys, std::vector<torch::Tensor> tensors)
      : pool_(std::move(pool)), plan_(std::move(plan)), keys_(std::move(keys)), tensors_(std::move(tensors)) {}
  ~HistogramPart() override {
    std::lock_guard<std::mutex> lock(pool_->mutex);
    --pool_->outstanding;
    pool_->free.push_back(std::move(plan_));
  }
  void resolve(StepRecord& record) override {
    auto results = plan_->results();
    tensors_.clear();  // the device work is done; the tensors may go
    for (std::size_t i = 0; i < results.size(); ++i)
      if (auto h = histogram_value(results[i])) record.histograms[keys_[i]] = std::move(*h);
  }

 private:
  std::shared_ptr<PlanPool> pool_;
  std::unique_ptr<HistogramPlan> plan_;
  std::vector<std::string> keys_;
  std::vector<torch::Tensor> tensors_;  // kept alive until the device has read them
};

HistogramOptions options_of(int bins) {
  HistogramOptions options;
  options.bins = bins;
  return options;
}

}  // namespace

std::optional<HistogramValue> histogram_value(const HistogramResult& r) {
  if (r.counts.empty()) return std::nullopt;  // no finite value: nothing to draw
  HistogramValue h;
  h.counts = r.counts;
  h.edges = r.edges;
  h.num = r.stats.count;
  h.min = r.stats.min;
  h.max = r.stats.max;
  h.sum = r.stats.sum;
  h.sum_squares = r.stats.sum_squares;
  return h;
}

bool PlanPool::use_list(const std::vector<int64_t>& list_numels, const Device& list_device) {
  if (numels == list_numels && device == list_device) return false;
  for (auto& plan : free) retired.push_back(std::move(plan));
  free.clear();
  numels = list_numels;
  device = list_device;
  return true;
}

void PlanPool::prepare(const std::vector<torch::Tensor>& tensors) {
  if (tensors.empty()) return;
  HistogramInputs in = histogram_inputs(tensors);
  std::vector<int64_t> list_numels;
  for (const auto& t : tensors) list_numels.push_back(t.numel());
  std::lock_guard<std::mutex> lock(mutex);
  use_list(list_numels, in.views.front().device);
  if (free.empty() && outstanding == 0) free.push_back(std::make_unique<HistogramPlan>(in.views, options_of(bins)));
}

void PlanPool::release_retired() {
  std::vector<std::unique_ptr<HistogramPlan>> old;
  {
    std::lock_guard<std::mutex> lock(mutex);
    old.swap(retired);
  }
}

std::unique_ptr<PendingPart> enqueue_histograms(const std::shared_ptr<PlanPool>& pool,
                                                const std::vector<std::pair<std::string, torch::Tensor>>& named,
                                                bool* skipped) {
  if (named.empty()) return nullptr;
  std::vector<std::string> keys;
  std::vector<torch::Tensor> tensors;
  std::vector<int64_t> numels;
  for (const auto& [name, tensor] : named) {
    keys.push_back(name);
    tensors.push_back(tensor.detach());
    numels.push_back(tensor.numel());
  }
  HistogramInputs in = histogram_inputs(tensors);  // dense copies of strided CUDA tensors
  for (auto& dense : in.keep) tensors.push_back(dense);
  std::unique_ptr<HistogramPlan> plan;
  {
    std::lock_guard<std::mutex> lock(pool->mutex);
    pool->use_list(numels, in.views.front().device);  // a different list: plans sized for the old one are useless
    if (!pool->free.empty()) {
      plan = std::move(pool->free.back());
      pool->free.pop_back();
    } else if (pool->outstanding >= kMaxPlansInFlight) {
      if (skipped) *skipped = true;
      return nullptr;
    }
    ++pool->outstanding;
  }
  try {
    if (!plan) plan = std::make_unique<HistogramPlan>(in.views, options_of(pool->bins));
    plan->enqueue(in.views, current_stream(tensors.front().device()));
  } catch (...) {
    std::lock_guard<std::mutex> lock(pool->mutex);
    --pool->outstanding;
    if (plan) pool->free.push_back(std::move(plan));
    throw;
  }
  return std::make_unique<HistogramPart>(pool, std::move(plan), std::move(keys), std::move(tensors));
}

}  // namespace trainscope::detail
