// Histograms + statistics of a model's parameters and gradients: trainscope's HistogramPlan
// against what PyTorch users do today (see the anchors: wandb.watch's per-tensor path and the best
// plain-torch path).
#include <cmath>

#include "harness.h"
#include "trainscope/torch.h"

namespace trainscope::bench {
namespace {

constexpr int kBins = 64;

// The set's parameter shapes, each once as a "parameter" and once as a "gradient" (fp32). Small
// mode keeps 12 shapes of at most 4096 elements.
std::vector<torch::Tensor> make_tensor_set(const Context& ctx, const std::string& set) {
  const auto& shapes = ctx.tensor_sets().at(set);
  std::vector<torch::Tensor> params, grads;
  for (const auto& entry : shapes) {
    std::vector<int64_t> shape = entry.at("shape").get<std::vector<int64_t>>();
    if (ctx.small()) {
      int64_t n = 1;
      for (auto d : shape) n *= d;
      shape = {std::min<int64_t>(n, 4096)};
      if (params.size() == 12) break;
    }
    params.push_back(torch::randn(shape, ctx.tensor_options()) * 0.05);
    grads.push_back(torch::randn(shape, ctx.tensor_options()) * 1e-3);
  }
  params.insert(params.end(), grads.begin(), grads.end());
  return params;
}

// wandb.watch's per-tensor path (log_tensor_stats): isfinite checks, min/max to the host, histc,
// the counts to the host, edges by linspace. Several host synchronisations per tensor.
std::size_t wandb_watch_style(const std::vector<torch::Tensor>& tensors, int bins) {
  std::size_t logged = 0;
  for (const auto& t : tensors) {
    auto flat = t.detach().reshape(-1);
    if (flat.scalar_type() != torch::kFloat && flat.scalar_type() != torch::kDouble) flat = flat.to(torch::kFloat);
    if (flat.numel() == 0 || (~torch::isfinite(flat)).all().item<bool>()) continue;
    if (!torch::isfinite(flat).all().item<bool>()) flat = flat.index({torch::isfinite(flat)});
    double lo = flat.min().item<double>(), hi = flat.max().item<double>();
    if (lo > hi) std::swap(lo, hi);
    auto counts = flat.histc(bins, lo, hi).cpu().detach().clone();
    auto edges = torch::linspace(lo, hi, bins + 1);
    std::vector<float> values(counts.data_ptr<float>(), counts.data_ptr<float>() + counts.numel());
    std::vector<float> limits(edges.data_ptr<float>(), edges.data_ptr<float>() + edges.numel());
    logged += values.size() + limits.size();
  }
  return logged;
}

// The best plain-torch path: aminmax per tensor, one synchronisation for all of them, histc per
// tensor, one copy of all counts.
torch::Tensor torch_optimised(const std::vector<torch::Tensor>& tensors, int bins) {
  std::vector<torch::Tensor> ranges;
  ranges.reserve(tensors.size());
  for (const auto& t : tensors) {
    auto [lo, hi] = torch::aminmax(t.detach().reshape(-1).to(torch::kFloat));
    ranges.push_back(torch::stack({lo, hi}));
  }
  const auto host = torch::stack(ranges).cpu();
  const auto r = host.accessor<float, 2>();
  std::vector<torch::Tensor> hists;
  hists.reserve(tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    hists.push_back(tensors[i].detach().reshape(-1).to(torch::kFloat).histc(bins, r[int64_t(i)][0], r[int64_t(i)][1]));
  }
  return torch::stack(hists).cpu();
}

void run_histogram_case(Context& ctx, const std::string& set) {
  const std::string name = "hist_" + set;
  if (!ctx.tensor_sets().contains(set)) {
    ctx.note(name, "tensor set " + set + " is not in the tensor-sets file");
    return;
  }
  const auto tensors = make_tensor_set(ctx, set);
  double bytes = 0, elements = 0;
  for (const auto& t : tensors) {
    bytes += double(t.numel()) * double(t.element_size());
    elements += double(t.numel());
  }
  CaseResult r = ctx.new_case(name, bytes);  // the tensors read; the results written are negligible
  r.about = {{"tensors", tensors.size()}, {"elements", elements}, {"bins", kBins}, {"dtype", "float32"}};

  // Inputs far larger than the cache are read as they are; smaller ones rotate between copies.
  std::vector<std::vector<torch::Tensor>> inputs = {tensors};
  for (int i = 1; i < ctx.rotations(bytes); ++i) {
    std::vector<torch::Tensor> copy;
    for (const auto& t : tensors) copy.push_back(t.clone());
    inputs.push_back(std::move(copy));
  }
  r.about["rotations"] = inputs.size();
  std::size_t turn = 0;
  auto next = [&]() -> const std::vector<torch::Tensor>& { return inputs[turn++ % inputs.size()]; };

  const int reps = ctx.small() ? 3 : 10;
  // Both CUDA schedules side by side in the same run (docs/ops.md#schedules): the subject is the
  // default (two passes), trainscope_l2_resident the persistent kernel that bins each tensor
  // while it is still in the L2. On the CPU both plans run the same CPU path.
  HistogramOptions options;
  options.bins = kBins;
  HistogramOptions l2_options = options;
  l2_options.schedule = HistogramSchedule::L2Resident;
  HistogramPlan plan = histogram_plan(tensors, options);
  HistogramPlan l2_plan = histogram_plan(tensors, l2_options);
  std::vector<HistogramResult> results, l2_results;
  const auto ms = ctx.time_side_by_side(
      {[&] {
         enqueue_histograms(plan, next());
         results = plan.results();  // waits for the pinned results and decodes them
       },
       [&] {
         enqueue_histograms(l2_plan, next());
         l2_results = l2_plan.results();
       },
       [&] { torch_optimised(next(), kBins); },
       [&] { wandb_watch_style(next(), kBins); }},
      reps, 1);
  // Device time: the enqueue alone (kernels and copies), the host's decoding excluded.
  const double device_ms = ctx.device_time_ms([&] { enqueue_histograms(plan, next()); }, reps, 1);
  const double l2_device_ms = ctx.device_time_ms([&] { enqueue_histograms(l2_plan, next()); }, reps, 1);
  r.add("trainscope", device_ms, ms[0]);
  r.add("trainscope_l2_resident", l2_device_ms, ms[1]);
  r.add("torch_optimised", ms[2]);
  r.add("torch_wandb_watch_style", ms[3]);

  // The schedules must agree: the same input (the same rotation) through both, counts compared.
  enqueue_histograms(plan, inputs[0]);
  enqueue_histograms(l2_plan, inputs[0]);
  results = plan.results();
  l2_results = l2_plan.results();
  bool schedules_agree = results.size() == l2_results.size();
  for (std::size_t i = 0; schedules_agree && i < results.size(); ++i) {
    schedules_agree = results[i].counts == l2_results[i].counts && results[i].stats.min == l2_results[i].stats.min &&
                      results[i].stats.max == l2_results[i].stats.max;
  }
  r.about["schedules_agree"] = schedules_agree;

  // A sanity check that the subject did the whole job: every finite element binned.
  double binned = 0;
  for (const auto& h : results)
    for (auto c : h.counts) binned += double(c);
  r.about["trainscope_binned_elements"] = binned;
  r.about["all_elements_binned"] = binned == elements;
  ctx.report(std::move(r));
}

}  // namespace

TRAINSCOPE_BENCH_CASE(hist_resnet50) { run_histogram_case(ctx, "resnet50"); }

TRAINSCOPE_BENCH_CASE(hist_transformer_300M) {
  if (!ctx.on_cuda() && !ctx.small() && !ctx.options().all_sets) {
    ctx.note("hist_transformer_300M", "skipped on the CPU (2.4 GB of tensors); pass --all-sets to run it");
    return;
  }
  run_histogram_case(ctx, "transformer_300M");
}

}  // namespace trainscope::bench
