// Labels from logits on CUDA: one warp per row, 16-byte loads, online max/sum-exp per lane, then
// a butterfly reduction of (argmax, softmax, top-k) across the warp. Reads the logits once.
#include "labels.h"

#include <algorithm>

#include "cuda_check.cuh"
#include "float_loads.cuh"
#include "logit_math.h"
#include "resident_grid.cuh"

namespace trainscope::kernels {
namespace {

constexpr int kWarpsPerBlock = 8;
constexpr int kThreads = kWarpsPerBlock * 32;
constexpr int kUnroll = 4;  // 16-byte loads in flight per lane before they are consumed
constexpr unsigned kFullMask = 0xffffffffu;

struct RowState {
  ArgmaxState best;
  SoftmaxState softmax;
  TopKState top;
};

template <bool TopK, int N>
__device__ __forceinline__ void consume(RowState& s, const float (&f)[N], int first_index) {
  // Chunk max first (fmaxf skips NaN), so the running sum is rescaled at most once per chunk.
  float chunk_max = f[0];
#pragma unroll
  for (int j = 1; j < N; ++j) chunk_max = fmaxf(chunk_max, f[j]);
#pragma unroll
  for (int j = 0; j < N; ++j) {
    s.best.add(f[j], first_index + j);
    if (is_nan(f[j])) s.softmax.has_nan = true;
    if (TopK) s.top.add(f[j], first_index + j);
  }
  if (chunk_max > s.softmax.max) {
    s.softmax.sum = SoftmaxState::rescale(s.softmax.sum, s.softmax.max, chunk_max);
    s.softmax.max = chunk_max;
  }
#pragma unroll
  for (int j = 0; j < N; ++j) {
    // NaN and −Inf add nothing (with max −Inf every value is one of them).
    if (f[j] > -INFINITY) s.softmax.sum += expf(f[j] - s.softmax.max);
  }
}

template <bool TopK>
__device__ __forceinline__ void warp_reduce(RowState& s) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) {
    ArgmaxState other_best;
    other_best.value = __shfl_xor_sync(kFullMask, s.best.value, offset);
    other_best.index = __shfl_xor_sync(kFullMask, s.best.index, offset);
    s.best.merge(other_best);
    SoftmaxState other;
    other.max = __shfl_xor_sync(kFullMask, s.softmax.max, offset);
    other.sum = __shfl_xor_sync(kFullMask, s.softmax.sum, offset);
    other.has_nan = __shfl_xor_sync(kFullMask, int(s.softmax.has_nan), offset) != 0;
    s.softmax.merge(other);
    if (TopK) {
      float values[kTopKCapacity];
      int indices[kTopKCapacity];
#pragma unroll
      for (int j = 0; j < kTopKCapacity; ++j) {
        values[j] = __shfl_xor_sync(kFullMask, s.top.value[j], offset);
        indices[j] = __shfl_xor_sync(kFullMask, s.top.index[j], offset);
      }
#pragma unroll
      for (int j = 0; j < kTopKCapacity; ++j) s.top.add(values[j], indices[j]);
    }
  }
}

__device__ __forceinline__ void count_confusion(const LabelsLaunch& a, int64_t row, int64_t label) {
  if (!a.confusion) return;
  const int64_t target = a.targets[row * a.target_stride];
  if (target >= 0 && target < a.confusion_classes) {
    atomicAdd(reinterpret_cast<unsigned long long*>(a.confusion + target * a.confusion_classes + label), 1ull);
  } else if (a.ignored) {
    atomicAdd(reinterpret_cast<unsigned long long*>(a.ignored), 1ull);
  }
}

template <typename T, bool Vectorized, bool TopK>
__global__ void __launch_bounds__(kThreads) labels_kernel(const LabelsLaunch a) {
  constexpr int kVector = Vectorized ? 16 / int(sizeof(T)) : 1;
  const int lane = threadIdx.x & 31;
  const int64_t first_warp = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int64_t warps = int64_t(gridDim.x) * blockDim.x / 32;
  const int k = a.top_k;
  for (int64_t row = first_warp; row < a.rows; row += warps) {
    const T* x = static_cast<const T*>(a.logits) + row * a.row_stride;
    RowState s;
    s.best.reset();
    s.softmax.reset();
    if (TopK) s.top.reset();

    const int vectors = a.classes / kVector;
    for (int base = lane; base < vectors; base += 32 * kUnroll) {
      float f[kUnroll][kVector];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        if (base + 32 * u < vectors) load_floats<T, kVector>(x + int64_t(base + 32 * u) * kVector, f[u]);
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        if (base + 32 * u < vectors) consume<TopK>(s, f[u], (base + 32 * u) * kVector);
      }
    }
    for (int c = vectors * kVector + lane; c < a.classes; c += 32) {
      const float f[1] = {to_float(x[c])};
      consume<TopK>(s, f, c);
    }
    warp_reduce<TopK>(s);

    if (lane == 0) {
      a.labels[row] = s.best.index;
      if (a.confidence) a.confidence[row] = s.softmax.max_probability();
      if (TopK) {
#pragma unroll
        for (int j = 0; j < kTopKCapacity; ++j) {  // constant slot indices: the list stays in registers
          if (j >= k) break;
          if (a.top_k_labels) a.top_k_labels[row * k + j] = s.top.index[j];
          if (a.top_k_confidence) a.top_k_confidence[row * k + j] = s.softmax.probability(s.top.value[j]);
        }
      }
      count_confusion(a, row, s.best.index);
    }
  }
}

// C == 1: one thread per row.
template <typename T>
__global__ void __launch_bounds__(kThreads) binary_labels_kernel(const LabelsLaunch a) {
  for (int64_t row = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; row < a.rows;
       row += int64_t(gridDim.x) * blockDim.x) {
    const float v = to_float(static_cast<const T*>(a.logits)[row * a.row_stride]);
    const bool label = binary_label(v, a.binary_threshold);
    a.labels[row] = label ? 1 : 0;
    if (a.confidence) a.confidence[row] = binary_probability(v, label, a.apply_sigmoid);
    for (int j = 0; j < a.top_k; ++j) {  // k ≤ 2: the chosen class, then the other
      const bool l = j == 0 ? label : !label;
      if (a.top_k_labels) a.top_k_labels[row * a.top_k + j] = l ? 1 : 0;
      if (a.top_k_confidence) a.top_k_confidence[row * a.top_k + j] = binary_probability(v, l, a.apply_sigmoid);
    }
    count_confusion(a, row, label ? 1 : 0);
  }
}

template <typename Kernel>
void launch(Kernel kernel, int64_t blocks_wanted, const LabelsLaunch& a, cudaStream_t stream) {
  kernel<<<resident_grid(kernel, kThreads, 0, blocks_wanted), kThreads, 0, stream>>>(a);
  TS_CUDA_CHECK_LAUNCH();
}

template <typename T>
void launch_typed(const LabelsLaunch& a, cudaStream_t stream) {
  if (a.classes == 1) {
    launch(binary_labels_kernel<T>, (a.rows + kThreads - 1) / kThreads, a, stream);
    return;
  }
  const int64_t wanted = (a.rows + kWarpsPerBlock - 1) / kWarpsPerBlock;  // one warp per row
  const bool vectorized = aligned_to(a.logits, 16) && (a.row_stride * int64_t(sizeof(T))) % 16 == 0;
  if (a.top_k > 0) {
    launch(vectorized ? labels_kernel<T, true, true> : labels_kernel<T, false, true>, wanted, a, stream);
  } else {
    launch(vectorized ? labels_kernel<T, true, false> : labels_kernel<T, false, false>, wanted, a, stream);
  }
}

}  // namespace

void launch_labels_from_logits(const LabelsLaunch& args, int device, Stream stream) {
  if (args.rows == 0) return;
  DeviceGuard guard(device);
  auto s = static_cast<cudaStream_t>(stream.handle);
  detail::dispatch<detail::FloatDTypes>(args.dtype, [&](auto tag) { launch_typed<cuda_element_t<decltype(tag)>>(args, s); });
}

}  // namespace trainscope::kernels
