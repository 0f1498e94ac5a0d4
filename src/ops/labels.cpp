#include "trainscope/ops/labels.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <mutex>
#include <string>
#include <vector>

#include "common/check.h"
#include "ops/element_readers.h"
#include "common/parallel.h"
#include "logit_math.h"  // kernels/: the arithmetic shared with the CUDA kernels
#include "ops/simd/logits_cpu_simd.h"
#include "ops/simd/packed_of.h"

#ifdef TRAINSCOPE_WITH_CUDA
#include "labels.h"  // kernels/
#endif

namespace trainscope {
namespace {

namespace logits_simd = detail::logits_simd;
constexpr const char* kOp = "labels_from_logits";

// Arguments after checking, in the form both the CPU path and the CUDA launcher use.
struct LabelsJob {
  int64_t rows = 0;
  int classes = 0;
  int top_k = 0;
  int confusion_classes = 0;
  double binary_threshold = 0.5;
  bool apply_sigmoid = false;
};

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

void check_vector(const TensorView& t, const char* arg, DType dtype, const std::vector<int64_t>& shape,
                  const TensorView& logits) {
  detail::check_not_null(t, kOp, arg);
  detail::check(t.dtype == dtype && t.shape == shape, kOp, arg, "expected ", dtype_name(dtype), " of shape ",
                shape_string(shape), ", got ", t.describe());
  detail::check(t.is_contiguous(), kOp, arg, "must be contiguous, got ", t.describe());
  detail::check_same_device(logits, t, kOp, arg);
}

template <typename Reader>
void labels_cpu(const TensorView& logits, const LabelOutputs& out, const LabelTargets* targets,
                const LabelsJob& job, logits_simd::Packed packed) {
  using Storage = typename Reader::Storage;
  const auto* base = logits.data_as<const Storage>();
  const int64_t row_stride = logits.strides[0], col_stride = logits.strides[1];
  auto* labels = out.labels.data_as<int64_t>();
  auto* confidence = out.confidence.data_as<float>();
  auto* top_labels = job.top_k ? out.top_k_labels.data_as<int64_t>() : nullptr;
  auto* top_conf = job.top_k ? out.top_k_confidence.data_as<float>() : nullptr;
  const int k = job.top_k;

  // The vector paths (ops/simd/) do labels and confidences of rows with unit column stride; rows
  // they hand back (a NaN, a +Inf, only −Inf), top-k, C == 1 and other strides take the scalar
  // code below, the reference.
  const logits_simd::Isa isa = logits_simd::active_isa();
  const bool vector_rows = isa != logits_simd::Isa::Scalar && job.classes >= 2 && k == 0 &&
                           col_stride == 1;
  detail::parallel_for(job.rows, 256, [&](int64_t begin, int64_t end) {
    if (vector_rows) {
      logits_simd::label_rows(isa, packed, base, row_stride, job.classes, begin, end, labels, confidence);
    }
    for (int64_t r = begin; r < end; ++r) {
      if (vector_rows && labels[r] >= 0) continue;
      const Storage* row = base + r * row_stride;
      if (job.classes == 1) {
        const float v = Reader::load(row);
        const bool label = kernels::binary_label(v, job.binary_threshold);
        labels[r] = label ? 1 : 0;
        if (confidence) confidence[r] = kernels::binary_probability(v, label, job.apply_sigmoid);
        for (int j = 0; j < k; ++j) {  // k ≤ 2: the chosen class, then the other
          const bool l = j == 0 ? label : !label;
          if (top_labels) top_labels[r * k + j] = l ? 1 : 0;
          if (top_conf) top_conf[r * k + j] = kernels::binary_probability(v, l, job.apply_sigmoid);
        }
        continue;
      }
      // Two passes over the row (in L1 for the second): argmax, top-k and maximum, then the
      // softmax denominator Σ exp(v − max), float exponentials summed in double. One exponential
      // per value; the online softmax's double exponentials and rescaling made this path slower
      // than torch's. A row with a NaN, a +Inf or only −Inf has NaN probabilities (as torch).
      kernels::ArgmaxState best;
      kernels::TopKState top;
      best.reset();
      top.reset();
      float max = -std::numeric_limits<float>::infinity();
      bool has_nan = false;
      for (int c = 0; c < job.classes; ++c) {
        const float v = Reader::load(row + c * col_stride);
        best.add(v, c);
        if (k) top.add(v, c);
        if (v != v) has_nan = true;
        else if (v > max) max = v;
      }
      labels[r] = best.index;
      const bool finite = !has_nan && std::isfinite(max);
      double sum = 0;
      if (finite) {
        for (int c = 0; c < job.classes; ++c) sum += std::exp(Reader::load(row + c * col_stride) - max);
      }
      const auto probability = [&](float v) {
        return finite ? static_cast<float>(double(std::exp(v - max)) / sum) : std::numeric_limits<float>::quiet_NaN();
      };
      if (confidence) confidence[r] = finite ? static_cast<float>(1.0 / sum) : std::numeric_limits<float>::quiet_NaN();
      for (int j = 0; j < k; ++j) {
        if (top_labels) top_labels[r * k + j] = top.index[j];
        if (top_conf) top_conf[r * k + j] = probability(top.value[j]);
      }
    }
  });

  if (!targets) return;
  // Accumulate after the labels are known; small per-thread matrices merged under a lock.
  const int cc = job.confusion_classes;
  const auto* t = targets->targets.data_as<const int64_t>();
  const int64_t t_stride = targets->targets.strides[0];
  auto* confusion = targets->confusion.data_as<int64_t>();
  int64_t* ignored = targets->ignored.data_as<int64_t>();
  std::mutex merge;
  detail::parallel_for(job.rows, 4096, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> local(std::size_t(cc) * std::size_t(cc), 0);
    int64_t local_ignored = 0;
    for (int64_t r = begin; r < end; ++r) {
      const int64_t target = t[r * t_stride];
      if (target < 0 || target >= cc) {
        ++local_ignored;
      } else {
        ++local[std::size_t(target * cc + labels[r])];
      }
    }
    std::lock_guard<std::mutex> lock(merge);
    for (std::size_t i = 0; i < local.size(); ++i) confusion[i] += local[i];
    if (ignored) *ignored += local_ignored;
  });
}

}  // namespace

void labels_from_logits(const TensorView& logits, const LabelOutputs& outputs,
                        const LabelTargets* targets, const LabelOptions& options, Stream stream) {
  using detail::check;
  detail::check_not_null(logits, kOp, "logits");
  check(logits.rank() == 2, kOp, "logits", "expected rank 2 [N, C], got ", logits.describe());
  check(detail::accepts<detail::FloatDTypes>(logits.dtype), kOp, "logits", "expected dtype ",
        detail::names<detail::FloatDTypes>(), ", got ", logits.describe());
  const int64_t n = logits.shape[0], c = logits.shape[1];
  check(c >= 1 && c <= std::numeric_limits<int32_t>::max(), kOp, "logits",
        "expected 1 ≤ C < 2^31 classes, got ", logits.describe());

  LabelsJob job;
  job.rows = n;
  job.classes = static_cast<int>(c);
  job.confusion_classes = std::max(job.classes, 2);
  job.top_k = options.top_k;
  job.apply_sigmoid = options.apply_sigmoid;
  check(options.top_k >= 0 && options.top_k <= kMaxTopK, kOp, "options.top_k", "expected 0..", kMaxTopK,
        ", got ", options.top_k);
  check(options.top_k <= job.confusion_classes, kOp, "options.top_k", "expected at most the number of classes (",
        job.confusion_classes, "), got ", options.top_k);
  check(!std::isnan(options.threshold), kOp, "options.threshold", "must not be NaN");
  if (options.apply_sigmoid) {
    // sigmoid(v) > t  ⇔  v > logit(t); t ≤ 0 admits every value above −Inf, t ≥ 1 none.
    const double t = options.threshold;
    job.binary_threshold = t <= 0.0   ? -std::numeric_limits<double>::infinity()
                           : t >= 1.0 ? std::numeric_limits<double>::infinity()
                                      : std::log(t / (1.0 - t));
  } else {
    job.binary_threshold = options.threshold;
  }

  check_vector(outputs.labels, "outputs.labels", DType::Int64, {n}, logits);
  if (outputs.confidence.data) check_vector(outputs.confidence, "outputs.confidence", DType::Float32, {n}, logits);
  if (job.top_k) {
    check(outputs.top_k_labels.data != nullptr || n == 0, kOp, "outputs.top_k_labels",
          "is required when options.top_k > 0");
    check_vector(outputs.top_k_labels, "outputs.top_k_labels", DType::Int64, {n, job.top_k}, logits);
    if (outputs.top_k_confidence.data) {
      check_vector(outputs.top_k_confidence, "outputs.top_k_confidence", DType::Float32, {n, job.top_k}, logits);
    }
  }
  if (targets) {
    detail::check_not_null(targets->targets, kOp, "targets.targets");
    check(targets->targets.dtype == DType::Int64 && targets->targets.shape == std::vector<int64_t>{n}, kOp,
          "targets.targets", "expected int64 of shape [", n, "], got ", targets->targets.describe());
    detail::check_same_device(logits, targets->targets, kOp, "targets.targets");
    const int64_t cc = job.confusion_classes;
    check(targets->confusion.data != nullptr, kOp, "targets.confusion", "is required with targets");
    check_vector(targets->confusion, "targets.confusion", DType::Int64, {cc, cc}, logits);
    if (targets->ignored.data) {
      detail::check_not_null(targets->ignored, kOp, "targets.ignored");
      check(targets->ignored.dtype == DType::Int64 && targets->ignored.numel() == 1, kOp, "targets.ignored",
            "expected one int64, got ", targets->ignored.describe());
      detail::check_same_device(logits, targets->ignored, kOp, "targets.ignored");
    }
  }
  detail::check_device_usable(logits.device, kOp, "logits");
  if (n == 0) return;

  if (!logits.device.is_cuda()) {
    detail::dispatch<detail::FloatDTypes>(logits.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      labels_cpu<typename detail::ReaderFor<T>::type>(logits, outputs, targets, job, logits_simd::packed_of<T>());
    });
    return;
  }
#ifdef TRAINSCOPE_WITH_CUDA
  check(c == 1 || logits.strides[1] == 1, kOp, "logits",
        "rows must be contiguous (unit stride along C) on CUDA, got ", logits.describe());
  kernels::LabelsLaunch args;
  args.logits = logits.data;
  args.dtype = logits.dtype;
  args.rows = n;
  args.classes = job.classes;
  args.row_stride = logits.strides[0];
  args.labels = outputs.labels.data_as<int64_t>();
  args.confidence = outputs.confidence.data_as<float>();
  args.top_k = job.top_k;
  args.top_k_labels = job.top_k ? outputs.top_k_labels.data_as<int64_t>() : nullptr;
  args.top_k_confidence = job.top_k ? outputs.top_k_confidence.data_as<float>() : nullptr;
  args.binary_threshold = job.binary_threshold;
  args.apply_sigmoid = job.apply_sigmoid;
  if (targets) {
    args.targets = targets->targets.data_as<const int64_t>();
    args.target_stride = targets->targets.strides[0];
    args.confusion = targets->confusion.data_as<int64_t>();
    args.confusion_classes = job.confusion_classes;
    args.ignored = targets->ignored.data_as<int64_t>();
  }
  kernels::launch_labels_from_logits(args, logits.device.index, stream);
#else
  (void)stream;
#endif
}

}  // namespace trainscope
