// Metric reduction across ranks (docs/distributed.md#metrics): one gather of every rank's values
// packed in one float64 vector, reduced in rank order by every rank alike.
#include <sstream>
#include <vector>

#include "collective.h"
#include "trainscope/error.h"

namespace trainscope {
namespace {

namespace dd = distributed_detail;
constexpr const char* kOp = "reduce_metrics";

Reduce reduction_of(const DistributedOptions& options, const std::string& name) {
  const auto it = options.reduce.find(name);
  return it == options.reduce.end() ? Reduce::Mean : it->second;
}

// Why `t` cannot be reduced, or empty.
std::string problem(const std::string& name, const torch::Tensor& t) {
  std::ostringstream os;
  if (!t.defined()) {
    os << kOp << ": metric '" << name << "': undefined tensor";
  } else if (t.numel() != 1) {
    os << kOp << ": metric '" << name << "': expected one element, got shape " << t.sizes();
  } else if (t.is_complex()) {
    os << kOp << ": metric '" << name << "': complex values cannot be reduced";
  }
  return os.str();
}

}  // namespace

std::map<std::string, torch::Tensor> reduce_metrics(const DistributedOptions& options,
                                                    const std::map<std::string, torch::Tensor>& metrics) {
  std::string error;
  dd::Fingerprint fingerprint;
  c10::Device data(c10::kCPU);
  for (const auto& [name, t] : metrics) {
    if (error.empty()) error = problem(name, t);
    if (error.empty() && t.is_cuda() && !data.is_cuda()) data = t.device();
    fingerprint.add(name);
    fingerprint.add(static_cast<int64_t>(reduction_of(options, name)));
  }
  if (!is_distributed(options)) {
    if (!error.empty()) throw Error(error);
    std::map<std::string, torch::Tensor> out;
    for (const auto& [name, t] : metrics) out[name] = t.reshape({}).to(torch::kDouble);
    return out;
  }
  // With check_agreement off a local error is not announced: the others then wait for the
  // group's timeout (docs/distributed.md#failures).
  if (options.check_agreement) {
    dd::agree(options, kOp, dd::Call::Metrics, static_cast<int64_t>(metrics.size()), 0, fingerprint.value(), error);
  } else if (!error.empty()) {
    throw Error(error);
  }
  if (metrics.empty()) return {};

  const c10::Device device = dd::collective_device(options, data);
  std::vector<torch::Tensor> values;
  values.reserve(metrics.size());
  for (const auto& [name, t] : metrics) values.push_back(t.reshape({}).to(device, torch::kDouble));
  const torch::Tensor gathered = dd::all_gather(options, kOp, torch::stack(values));  // [world, K]

  // Elementwise in rank order: the same operations on the same data on every rank.
  torch::Tensor sum = gathered[0].clone(), min = sum.clone(), max = sum.clone();
  for (int64_t r = 1; r < gathered.size(0); ++r) {
    sum = sum + gathered[r];
    min = torch::minimum(min, gathered[r]);
    max = torch::maximum(max, gathered[r]);
  }
  const torch::Tensor mean = sum / static_cast<double>(gathered.size(0));
  std::map<std::string, torch::Tensor> out;
  int64_t k = 0;
  for (const auto& [name, t] : metrics) {
    switch (reduction_of(options, name)) {
      case Reduce::Mean: out[name] = mean[k]; break;
      case Reduce::Sum: out[name] = sum[k]; break;
      case Reduce::Min: out[name] = min[k]; break;
      case Reduce::Max: out[name] = max[k]; break;
    }
    ++k;
  }
  return out;
}

double reduce_value(const DistributedOptions& options, const std::string& name, double value) {
  const auto out = reduce_metrics(options, {{name, torch::scalar_tensor(value, torch::kDouble)}});
  return out.at(name).item<double>();
}

}  // namespace trainscope
