// Histograms of tensors sharded over ranks (docs/distributed.md#histograms): the op's two passes
// (src/ops/histogram_parts.h) with a collective between and after them, so every rank bins its
// shard with the global edges and the summed counts are those of the concatenated tensor.
#include <cstring>
#include <exception>
#include <vector>

#include "collective.h"
#include "ops/histogram_parts.h"
#include "trainscope/error.h"

namespace trainscope {
namespace {

namespace dd = distributed_detail;
using detail::HistogramPass1;
constexpr const char* kOp = "distributed_histograms";
constexpr int64_t kPass1Words = 8;

bool sharded(const DistributedOptions& options, const std::string& name) {
  return options.sharded.count(name) || (options.is_sharded && options.is_sharded(name));
}

int64_t bits(double v) {
  int64_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}
double from_bits(int64_t b) {
  double v;
  std::memcpy(&v, &b, sizeof v);
  return v;
}

// Pass-1 records as int64 words (doubles by their bits): gathered, not reduced, so exact.
void pack(const HistogramPass1& s, int64_t* w) {
  w[0] = int64_t(s.count);
  w[1] = int64_t(s.nan_count);
  w[2] = int64_t(s.pos_inf_count);
  w[3] = int64_t(s.neg_inf_count);
  w[4] = bits(s.sum);
  w[5] = bits(s.sum_squares);
  w[6] = bits(s.min);
  w[7] = bits(s.max);
}
HistogramPass1 unpack(const int64_t* w) {
  HistogramPass1 s;
  s.count = uint64_t(w[0]);
  s.nan_count = uint64_t(w[1]);
  s.pos_inf_count = uint64_t(w[2]);
  s.neg_inf_count = uint64_t(w[3]);
  s.sum = from_bits(w[4]);
  s.sum_squares = from_bits(w[5]);
  s.min = from_bits(w[6]);
  s.max = from_bits(w[7]);
  return s;
}

}  // namespace

std::vector<std::optional<HistogramResult>> distributed_histograms(
    const DistributedOptions& options, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
    HistogramOptions histogram_options) {
  const std::size_t n = tensors.size();
  std::vector<std::optional<HistogramResult>> out(n);
  if (!is_distributed(options)) {
    if (n == 0) return out;
    std::vector<torch::Tensor> all;
    for (const auto& [name, t] : tensors) all.push_back(t);
    std::vector<HistogramResult> r = histograms(all, histogram_options);
    for (std::size_t i = 0; i < n; ++i) out[i] = std::move(r[i]);
    return out;
  }
  const int bins = histogram_options.bins;
  const bool rank0 = is_rank0(options);

  // Everything that can fail locally happens before the first collective and is agreed on.
  std::vector<std::size_t> shard_index, replica_index;
  dd::Fingerprint fingerprint;
  for (std::size_t i = 0; i < n; ++i) {
    const bool s = sharded(options, tensors[i].first);
    (s ? shard_index : replica_index).push_back(i);
    fingerprint.add(tensors[i].first);
    fingerprint.add(int64_t(s));
  }
  std::string error;
  std::vector<torch::Tensor> shards;  // CPU tensors (CUDA shards copied: docs/distributed.md)
  std::vector<TensorView> views;
  std::vector<HistogramPass1> local;
  try {
    if (bins < 1 || bins > kMaxHistogramBins)
      throw Error(std::string(kOp) + ": bins: expected 1.." + std::to_string(kMaxHistogramBins) + ", got " +
                  std::to_string(bins));
    for (std::size_t i : shard_index) {
      const torch::Tensor& t = tensors[i].second;
      // The op's checks (defined, dtype, device), with the tensor's name in the message.
      try {
        (void)histogram_inputs({t});
      } catch (const Error& e) {
        throw Error(std::string(kOp) + ": '" + tensors[i].first + "': " + e.what());
      }
      shards.push_back(t.is_cuda() ? t.cpu() : t);
      views.push_back(view_of(shards.back()));
    }
    if (!views.empty()) local = detail::histogram_pass1(views);
    if (rank0 && !replica_index.empty()) {
      std::vector<torch::Tensor> replicas;
      for (std::size_t i : replica_index) replicas.push_back(tensors[i].second);
      std::vector<HistogramResult> r = histograms(replicas, histogram_options);
      for (std::size_t k = 0; k < replica_index.size(); ++k) out[replica_index[k]] = std::move(r[k]);
    }
  } catch (const std::exception& e) {
    error = e.what();
  }
  if (options.check_agreement) {
    dd::agree(options, kOp, dd::Call::Histograms, static_cast<int64_t>(n), bins, fingerprint.value(), error);
  } else if (!error.empty()) {
    throw Error(error);  // unannounced: the others wait for the timeout (docs/distributed.md#failures)
  }
  if (shard_index.empty()) return out;

  // Pass 1: gather every rank's statistics, merge them in rank order (identical on every rank).
  const int64_t s = static_cast<int64_t>(shard_index.size());
  torch::Tensor words = torch::empty({s * kPass1Words}, torch::kLong);
  for (int64_t i = 0; i < s; ++i) pack(local[std::size_t(i)], words.data_ptr<int64_t>() + i * kPass1Words);
  const c10::Device device = dd::collective_device(options, c10::Device(c10::kCPU));
  const torch::Tensor gathered = dd::all_gather(options, kOp, words.to(device)).cpu().contiguous();
  std::vector<HistogramPass1> global(static_cast<std::size_t>(s));
  for (int64_t r = 0; r < gathered.size(0); ++r)
    for (int64_t i = 0; i < s; ++i)
      detail::merge_pass1(global[std::size_t(i)], unpack(gathered[r].data_ptr<int64_t>() + i * kPass1Words));

  // Pass 2: the global edges on every shard; counts (exact as doubles below 2^53) and the centred
  // squares summed in one all-reduce.
  std::vector<uint64_t> counts(static_cast<std::size_t>(s * bins));
  std::vector<double> centered(static_cast<std::size_t>(s));
  detail::histogram_pass2(views, global, bins, counts.data(), centered.data());
  torch::Tensor sums = torch::empty({s * (bins + 1)}, torch::kDouble);
  double* p = sums.data_ptr<double>();
  for (int64_t i = 0; i < s; ++i) {
    for (int b = 0; b < bins; ++b) p[i * (bins + 1) + b] = double(counts[std::size_t(i * bins + b)]);
    p[i * (bins + 1) + bins] = centered[std::size_t(i)];
  }
  torch::Tensor reduced = sums.to(device);
  dd::all_reduce_sum(options, kOp, reduced);
  reduced = reduced.cpu().contiguous();
  const double* q = reduced.data_ptr<double>();
  for (int64_t i = 0; i < s; ++i) {
    for (int b = 0; b < bins; ++b) counts[std::size_t(i * bins + b)] = uint64_t(q[i * (bins + 1) + b]);
    out[shard_index[std::size_t(i)]] =
        detail::histogram_result(global[std::size_t(i)], counts.data() + i * bins, q[i * (bins + 1) + bins], bins);
  }
  return out;
}

}  // namespace trainscope
