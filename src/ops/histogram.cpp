#include "trainscope/ops/histogram.h"

#include <cmath>
#include <cstdint>
#include <string>

#include "common/check.h"
#include "dtype_dispatch.h"  // kernels/
#include "histogram_math.h"  // kernels/
#include "ops/histogram_cpu.h"
#include "ops/histogram_parts.h"

#ifdef TRAINSCOPE_WITH_CUDA
#include "histogram.h"  // kernels/
#endif

namespace trainscope {
namespace {

namespace hm = histogram_math;
constexpr const char* kOp = "HistogramPlan";

std::string tensor_arg(std::size_t i) { return "tensors[" + std::to_string(i) + "]"; }

// Checks one tensor of the list; `device` is the list's device (that of tensors[0]).
void check_tensor(const TensorView& t, std::size_t i, const Device& device, const char* op) {
  const std::string arg = tensor_arg(i);
  detail::check_not_null(t, op, arg.c_str());
  detail::check(detail::accepts<detail::HistogramDTypes>(t.dtype), op, arg.c_str(), "unsupported dtype (enum value ",
                static_cast<int>(t.dtype), "); expected ", detail::names<detail::HistogramDTypes>());
  // Runs for every tensor of every enqueue: the messages (describe(), str()) are built only on
  // failure, not as check() arguments.
  for (int64_t d : t.shape) {
    if (d < 0) detail::fail(op, arg.c_str(), "negative extent in ", t.describe());
  }
  if (!(t.device == device)) {
    detail::fail(op, arg.c_str(), "expected device ", device.str(), " (that of tensors[0]), got ", t.device.str());
  }
  // The kernels read contiguous data; the torch adapter makes CUDA tensors contiguous first.
  if (t.device.is_cuda() && !t.is_contiguous()) {
    detail::fail(op, arg.c_str(), "must be contiguous on CUDA, got non-contiguous strides for ", t.describe());
  }
}

std::vector<hm::HistogramChunk> build_chunks(const std::vector<TensorView>& tensors) {
  std::vector<hm::HistogramChunk> chunks;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const int64_t n = tensors[i].numel();
    for (int64_t begin = 0; begin < n; begin += hm::kHistogramChunkElements) {
      chunks.push_back({begin, std::min(n, begin + hm::kHistogramChunkElements), static_cast<int32_t>(i), 0});
    }
  }
  return chunks;
}

#ifdef TRAINSCOPE_WITH_CUDA
std::vector<kernels::HistogramTensor> device_table(const std::vector<TensorView>& tensors) {
  std::vector<kernels::HistogramTensor> table(tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    table[i].data = tensors[i].data;
    table[i].numel = tensors[i].numel();
    table[i].dtype = static_cast<int32_t>(tensors[i].dtype);
    table[i].vector_loads = reinterpret_cast<std::uintptr_t>(tensors[i].data) % 16 == 0 ? 1 : 0;
  }
  return table;
}
#endif

}  // namespace

// Also decodes the sharded histograms of src/ops/histogram_parts.cpp.
HistogramResult detail::decode_histogram(const hm::TensorAccumulators& a, const unsigned long long* counts,
                                         int bins) {
  HistogramResult r;
  TensorStats& s = r.stats;
  s.count = static_cast<int64_t>(a.count);
  s.nan_count = static_cast<int64_t>(a.nan_count);
  s.pos_inf_count = static_cast<int64_t>(a.pos_inf_count);
  s.neg_inf_count = static_cast<int64_t>(a.neg_inf_count);
  if (a.count == 0) return r;  // statistics only, all zero
  s.sum = a.sum;
  s.sum_squares = a.sum_squares;
  s.min = hm::from_order_key(~a.min_key);
  s.max = hm::from_order_key(a.max_key);
  s.mean = a.sum / double(a.count);
  s.std = std::sqrt(a.centered_squares / double(a.count));
  s.l2_norm = std::sqrt(a.sum_squares);
  const double lo = s.min, hi = s.max;
  if (!(hi > lo)) {
    r.counts = {s.count};
    r.edges = {lo, hi};
    return r;
  }
  r.counts.assign(counts, counts + bins);
  r.edges.resize(std::size_t(bins) + 1);
  const double width = hi - lo;
  for (int i = 0; i <= bins; ++i) {
    // lo + (hi − lo)·i/B; a width that overflows (float64 only) is split into two terms.
    r.edges[std::size_t(i)] = std::isfinite(width) ? lo + width * double(i) / double(bins)
                                                   : lo + (hi / double(bins) - lo / double(bins)) * double(i);
  }
  r.edges.front() = lo;
  r.edges.back() = hi;
  return r;
}

struct HistogramPlan::Impl {
  Device device;
  int bins = kDefaultHistogramBins;
  std::vector<int64_t> numels;
  std::vector<hm::HistogramChunk> chunks;
  bool enqueued = false;
  // CPU results.
  std::vector<hm::TensorAccumulators> cpu_acc;
  std::vector<unsigned long long> cpu_counts;
#ifdef TRAINSCOPE_WITH_CUDA
  std::unique_ptr<kernels::CudaHistogramRunner> cuda;
#endif
};

HistogramPlan::HistogramPlan(const std::vector<TensorView>& tensors, HistogramOptions options)
    : impl_(std::make_unique<Impl>()) {
  detail::check(!tensors.empty(), kOp, "tensors", "expected at least one tensor, got an empty list");
  detail::check(options.bins >= 1 && options.bins <= kMaxHistogramBins, kOp, "options.bins",
                "expected 1..", kMaxHistogramBins, ", got ", options.bins);
  detail::check(tensors.size() <= std::size_t(INT32_MAX), kOp, "tensors", "too many tensors");
  detail::check(options.schedule == HistogramSchedule::TwoPass || options.schedule == HistogramSchedule::L2Resident,
                kOp, "options.schedule", "unknown schedule (enum value ", static_cast<int>(options.schedule), ")");
  detail::check(options.l2_window_bytes >= 0, kOp, "options.l2_window_bytes", "expected >= 0 (0: a third of the L2), got ",
                options.l2_window_bytes);
  Impl& p = *impl_;
  p.device = tensors[0].device;
  p.bins = options.bins;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    check_tensor(tensors[i], i, p.device, kOp);
    p.numels.push_back(tensors[i].numel());
  }
  detail::check_device_usable(p.device, kOp, "tensors");
  p.chunks = build_chunks(tensors);
  if (!p.device.is_cuda()) {
    p.cpu_acc.assign(tensors.size(), hm::TensorAccumulators{});
    p.cpu_counts.assign(tensors.size() * std::size_t(p.bins), 0);
    return;
  }
#ifdef TRAINSCOPE_WITH_CUDA
  kernels::HistogramRunnerOptions runner;
  runner.l2_resident = options.schedule == HistogramSchedule::L2Resident;
  runner.l2_window_bytes = options.l2_window_bytes;
  p.cuda = std::make_unique<kernels::CudaHistogramRunner>(p.device.index, p.bins, device_table(tensors), p.chunks,
                                                          runner);
#endif
}

HistogramPlan::~HistogramPlan() = default;
HistogramPlan::HistogramPlan(HistogramPlan&&) noexcept = default;
HistogramPlan& HistogramPlan::operator=(HistogramPlan&&) noexcept = default;

namespace {
const char* kUsedAfterMove = "the plan was moved from";
}

void HistogramPlan::enqueue(const std::vector<TensorView>& tensors, Stream stream) {
  constexpr const char* op = "HistogramPlan::enqueue";
  detail::check(impl_ != nullptr, op, "this", kUsedAfterMove);
  Impl& p = *impl_;
  detail::check(tensors.size() == p.numels.size(), op, "tensors", "expected ", p.numels.size(),
                " tensors (as at construction), got ", tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    check_tensor(tensors[i], i, p.device, op);
    if (tensors[i].numel() != p.numels[i]) {
      detail::fail(op, tensor_arg(i).c_str(), "expected ", p.numels[i], " elements (as at construction), got ",
                   tensors[i].describe());
    }
  }
  if (!p.device.is_cuda()) {
    std::fill(p.cpu_acc.begin(), p.cpu_acc.end(), hm::TensorAccumulators{});
    std::fill(p.cpu_counts.begin(), p.cpu_counts.end(), 0ull);
    detail::histogram_cpu(tensors, p.chunks, p.bins, p.cpu_acc.data(), p.cpu_counts.data());
    p.enqueued = true;
    return;
  }
#ifdef TRAINSCOPE_WITH_CUDA
  p.cuda->enqueue(device_table(tensors), stream);
  p.enqueued = true;
#else
  (void)stream;
#endif
}

bool HistogramPlan::ready() const {
  detail::check(impl_ != nullptr, "HistogramPlan::ready", "this", kUsedAfterMove);
#ifdef TRAINSCOPE_WITH_CUDA
  if (impl_->cuda) return impl_->cuda->ready();
#endif
  return true;
}

void HistogramPlan::wait() const {
  detail::check(impl_ != nullptr, "HistogramPlan::wait", "this", kUsedAfterMove);
#ifdef TRAINSCOPE_WITH_CUDA
  if (impl_->cuda) impl_->cuda->wait();
#endif
}

std::vector<HistogramResult> HistogramPlan::results() const {
  constexpr const char* op = "HistogramPlan::results";
  detail::check(impl_ != nullptr, op, "this", kUsedAfterMove);
  const Impl& p = *impl_;
  detail::check(p.enqueued, op, "this", "no results yet: call enqueue() first");
  const hm::TensorAccumulators* acc = p.cpu_acc.data();
  const unsigned long long* counts = p.cpu_counts.data();
#ifdef TRAINSCOPE_WITH_CUDA
  if (p.cuda) {
    p.cuda->wait();
    p.cuda->check_results();
    acc = p.cuda->accumulators();
    counts = p.cuda->counts();
  }
#endif
  std::vector<HistogramResult> out;
  out.reserve(p.numels.size());
  for (std::size_t i = 0; i < p.numels.size(); ++i) {
    out.push_back(detail::decode_histogram(acc[i], counts + i * std::size_t(p.bins), p.bins));
  }
  return out;
}

std::size_t HistogramPlan::size() const { return impl_ ? impl_->numels.size() : 0; }

Device HistogramPlan::device() const { return impl_ ? impl_->device : Device::cpu(); }

std::vector<HistogramResult> histograms(const std::vector<TensorView>& tensors, HistogramOptions options,
                                        Stream stream) {
  HistogramPlan plan(tensors, options);
  plan.enqueue(tensors, stream);
  return plan.results();
}

}  // namespace trainscope
