#pragma once
// The arithmetic of labels and fused segmentation, shared verbatim by the CPU paths (src/ops) and
// the CUDA kernels so that both give identical labels and the same confidences:
//  - argmax order: a NaN ranks above every number (the first NaN wins, as torch.argmax), otherwise
//    the larger value, ties to the lower index. It is a total order, so any reduction order (lanes,
//    warps, threads) picks the same winner.
//  - softmax: online max/sum-exp in float32. A row with a NaN, a +Inf, or only −Inf has no finite
//    softmax; its probabilities are NaN, exactly what torch.softmax returns for such rows.
#include <cmath>
#include <cstdint>
#include <limits>

#ifdef __CUDACC__
#define TS_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define TS_HOST_DEVICE inline
#endif

namespace trainscope::kernels {

TS_HOST_DEVICE bool is_nan(float v) { return v != v; }

// True when (a, ia) comes before (b, ib) in the argmax order.
TS_HOST_DEVICE bool ranks_before(float a, int ia, float b, int ib) {
  const bool a_nan = is_nan(a), b_nan = is_nan(b);
  if (a_nan || b_nan) return a_nan && (!b_nan || ia < ib);
  return a > b || (a == b && ia < ib);
}

// Running argmax; `index` −1 until the first value.
struct ArgmaxState {
  float value;
  int index;
  TS_HOST_DEVICE void reset() {
    value = -std::numeric_limits<float>::infinity();
    index = -1;
  }
  TS_HOST_DEVICE void add(float v, int i) {
    if (index < 0 || ranks_before(v, i, value, index)) {
      value = v;
      index = i;
    }
  }
  TS_HOST_DEVICE void merge(const ArgmaxState& o) {
    if (o.index >= 0) add(o.value, o.index);
  }
};

TS_HOST_DEVICE float exp_of(float x) { return expf(x); }
TS_HOST_DEVICE double exp_of(double x) { return exp(x); }

// Online softmax denominator: sum of exp(x − max) over the non-NaN values, with a NaN flag.
// The CUDA kernels accumulate in float; the CPU path, the reference in tests, in double.
template <typename Acc>
struct SoftmaxStateT {
  Acc max;
  Acc sum;
  bool has_nan;

  TS_HOST_DEVICE void reset() {
    max = -std::numeric_limits<Acc>::infinity();
    sum = 0;
    has_nan = false;
  }
  // sum·exp(from − to) without the NaN of (−Inf) − (−Inf) when nothing was summed yet.
  TS_HOST_DEVICE static Acc rescale(Acc sum, Acc from, Acc to) {
    return sum == Acc(0) ? Acc(0) : sum * exp_of(from - to);
  }
  TS_HOST_DEVICE void add(Acc v) {
    if (v != v) {
      has_nan = true;
    } else if (v > max) {
      sum = rescale(sum, max, v) + Acc(1);
      max = v;
    } else if (v != -std::numeric_limits<Acc>::infinity()) {
      sum += exp_of(v - max);
    }
  }
  TS_HOST_DEVICE void merge(const SoftmaxStateT& o) {
    has_nan = has_nan || o.has_nan;
    const Acc m = o.max > max ? o.max : max;
    sum = rescale(sum, max, m) + rescale(o.sum, o.max, m);
    max = m;
  }
  // False for rows whose softmax is NaN (a NaN, a +Inf, or no value above −Inf).
  TS_HOST_DEVICE bool finite() const {
    return !has_nan && max != std::numeric_limits<Acc>::infinity() &&
           max != -std::numeric_limits<Acc>::infinity();
  }
  TS_HOST_DEVICE float probability(float v) const {
    return finite() ? static_cast<float>(exp_of(Acc(v) - max) / sum) : std::numeric_limits<float>::quiet_NaN();
  }
  // Probability of the argmax label: exp(0) / sum.
  TS_HOST_DEVICE float max_probability() const {
    return finite() ? static_cast<float>(Acc(1) / sum) : std::numeric_limits<float>::quiet_NaN();
  }
};
using SoftmaxState = SoftmaxStateT<float>;

// The kTopKCapacity best (value, index) pairs in argmax order, sorted; unused slots hold index −1.
// A requested top-k (k ≤ capacity) is the first k slots. Only constant slot indices are used, so
// on the GPU the list stays in registers.
constexpr int kTopKCapacity = 5;
struct TopKState {
  float value[kTopKCapacity];
  int index[kTopKCapacity];

  TS_HOST_DEVICE void reset() {
    for (int j = 0; j < kTopKCapacity; ++j) {
      value[j] = -std::numeric_limits<float>::infinity();
      index[j] = -1;
    }
  }
  // (v, i) before the slot (slot_v, slot_i); an unused slot comes after every entry.
  TS_HOST_DEVICE static bool before(float v, int i, float slot_v, int slot_i) {
    return i >= 0 && (slot_i < 0 || ranks_before(v, i, slot_v, slot_i));
  }
  TS_HOST_DEVICE void add(float v, int i) {
    constexpr int last = kTopKCapacity - 1;
    if (!before(v, i, value[last], index[last])) return;
    value[last] = v;
    index[last] = i;
    // One bubble pass moves the new entry up to its place; the others are already in order.
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
    for (int j = last; j > 0; --j) {
      if (before(value[j], index[j], value[j - 1], index[j - 1])) {
        const float tv = value[j];
        const int ti = index[j];
        value[j] = value[j - 1];
        index[j] = index[j - 1];
        value[j - 1] = tv;
        index[j - 1] = ti;
      }
    }
  }
};

// C == 1. `threshold_in_value_space`: the threshold compared with the raw value, in double so
// that CPU and CUDA decide identically (with a sigmoid: logit(threshold), since sigmoid(v) > t ⇔
// v > logit(t)). A NaN value is never above the threshold: label 0, confidence NaN.
TS_HOST_DEVICE bool binary_label(float v, double threshold_in_value_space) {
  return static_cast<double>(v) > threshold_in_value_space;
}
// Probability of class `label` (1: positive) for the value v.
TS_HOST_DEVICE float binary_probability(float v, bool label, bool apply_sigmoid) {
  if (apply_sigmoid) return label ? 1.f / (1.f + expf(-v)) : 1.f / (1.f + expf(v));
  return label ? v : 1.f - v;
}

}  // namespace trainscope::kernels
