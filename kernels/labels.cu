// Labels from logits on CUDA: lanes, a warp or a block per row by the row size (labels_mapping.h,
// docs/ops.md), 16-byte loads with a scalar head and tail, online max/sum-exp per thread, then a
// butterfly reduction of (argmax, softmax, top-k) across the row's lanes (and, for a block per
// row, across its warps). Reads the logits once.
#include "labels.h"

#include <algorithm>

#include "cuda_check.cuh"
#include "float_loads.cuh"
#include "labels_mapping.h"
#include "logit_math.h"
#include "resident_grid.cuh"

namespace trainscope::kernels {
namespace {

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

// Butterfly merge of the states of `width` consecutive lanes (a power of two ≤ 32, groups aligned
// to it); every lane of the warp takes part. The same combine rules for every strategy.
template <bool TopK>
__device__ __forceinline__ void group_reduce(RowState& s, int width) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) {
    if (offset >= width) continue;
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

template <bool TopK>
__device__ __forceinline__ void reset(RowState& s) {
  s.best.reset();
  s.softmax.reset();
  if (TopK) s.top.reset();
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

template <bool TopK>
__device__ __forceinline__ void write_row(const LabelsLaunch& a, int64_t row, const RowState& s) {
  a.labels[row] = s.best.index;
  if (a.confidence) a.confidence[row] = s.softmax.max_probability();
  if (TopK) {
    const int k = a.top_k;
#pragma unroll
    for (int j = 0; j < kTopKCapacity; ++j) {  // constant slot indices: the list stays in registers
      if (j >= k) break;
      if (a.top_k_labels) a.top_k_labels[row * k + j] = s.top.index[j];
      if (a.top_k_confidence) a.top_k_confidence[row * k + j] = s.softmax.probability(s.top.value[j]);
    }
  }
  count_confusion(a, row, s.best.index);
}

// The elements of one 16-byte word group as floats (float_loads.cuh's unpack_words).
template <typename T, int N>
__device__ __forceinline__ void unpack_floats(const uint4& v, float (&out)[N]) {
  const unsigned int words[4] = {v.x, v.y, v.z, v.w};
  unpack_words<T>(words, out);
}

// Thread t's share of row x when `Stride` threads read it: a scalar head up to the first 16-byte
// boundary (rows of odd length or stride, views offset by an element), 16-byte vectors with
// kUnroll loads in flight, then a scalar tail. Head and tail are shorter than one vector.
template <typename T, bool TopK, int Stride>
__device__ __forceinline__ void consume_row(RowState& s, const T* x, int classes, int t) {
  constexpr int kVector = kLabelsVectorBytes / int(sizeof(T));
  const int head = labels_vector_head(reinterpret_cast<std::uintptr_t>(x), int(sizeof(T)), classes);
  if (t < head) {
    const float f[1] = {to_float(x[t])};
    consume<TopK>(s, f, t);
  }
  const T* body = x + head;
  const int vectors = (classes - head) / kVector;
  for (int base = t; base < vectors; base += Stride * kUnroll) {
    // The raw words stay in flight (4 registers per load for every dtype); each vector is
    // unpacked to floats only when it is consumed, so 16-bit rows need no more registers.
    uint4 raw[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (base + Stride * u < vectors) raw[u] = __ldg(reinterpret_cast<const uint4*>(body + int64_t(base + Stride * u) * kVector));
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (base + Stride * u < vectors) {
        float f[kVector];
        unpack_floats<T>(raw[u], f);
        consume<TopK>(s, f, head + (base + Stride * u) * kVector);
      }
    }
  }
  const int c = head + vectors * kVector + t;
  if (c < classes) {
    const float f[1] = {to_float(x[c])};
    consume<TopK>(s, f, c);
  }
}

// RowsPerWarp (C ≤ 64): groups of `lanes_per_row` lanes; lane j of a group reads elements j,
// j + L, ... of each of its kLabelsRowsPerWarpUnroll rows, all loads issued before the first is
// used. The warp iterates as one so that the group reduction's shuffles see every lane; rows
// past the end hold empty states.
template <typename T, bool TopK>
__global__ void __launch_bounds__(kLabelsThreads) rows_per_warp_kernel(const LabelsLaunch a, const int lanes_per_row) {
  constexpr int kRows = kLabelsRowsPerWarpUnroll;
  const int group_lane = threadIdx.x & (lanes_per_row - 1);
  const LabelsRowWalk walk = labels_row_walk(lanes_per_row, kRows, blockDim.x, blockIdx.x, threadIdx.x, gridDim.x);
  for (int64_t warp_row = walk.warp_first; warp_row < a.rows; warp_row += walk.step) {
    float f[kRows][kLabelsMaxPerLane];
#pragma unroll
    for (int u = 0; u < kRows; ++u) {
      const int64_t row = warp_row + walk.group + u * walk.unroll_stride;
      if (row >= a.rows) continue;
      const T* x = static_cast<const T*>(a.logits) + row * a.row_stride;
#pragma unroll
      for (int j = 0; j < kLabelsMaxPerLane; ++j) {
        const int c = group_lane + j * lanes_per_row;
        if (c < a.classes) f[u][j] = to_float(x[c]);
      }
    }
#pragma unroll
    for (int u = 0; u < kRows; ++u) {
      const int64_t row = warp_row + walk.group + u * walk.unroll_stride;
      RowState s;
      reset<TopK>(s);
      if (row < a.rows) {
#pragma unroll
        for (int j = 0; j < kLabelsMaxPerLane; ++j) {
          const int c = group_lane + j * lanes_per_row;
          if (c < a.classes) {
            const float one[1] = {f[u][j]};
            consume<TopK>(s, one, c);
          }
        }
      }
      group_reduce<TopK>(s, lanes_per_row);
      if (row < a.rows && group_lane == 0) write_row<TopK>(a, row, s);
    }
  }
}

// WarpPerRow: one warp per row.
template <typename T, bool TopK>
__global__ void __launch_bounds__(kLabelsThreads) warp_per_row_kernel(const LabelsLaunch a) {
  const int lane = threadIdx.x & 31;
  const LabelsRowWalk walk = labels_row_walk(32, 1, blockDim.x, blockIdx.x, threadIdx.x, gridDim.x);
  for (int64_t row = walk.warp_first; row < a.rows; row += walk.step) {
    RowState s;
    reset<TopK>(s);
    consume_row<T, TopK, 32>(s, static_cast<const T*>(a.logits) + row * a.row_stride, a.classes, lane);
    group_reduce<TopK>(s, 32);
    if (lane == 0) write_row<TopK>(a, row, s);
  }
}

// BlockPerRow (rows of 64 KB and more): the block's threads share a row; each warp reduces its
// lanes, then warp 0 merges the warps' states from shared memory with the same rules.
template <typename T, bool TopK>
__global__ void __launch_bounds__(kLabelsThreads) block_per_row_kernel(const LabelsLaunch a) {
  constexpr int kWarps = kLabelsThreads / 32;
  __shared__ RowState partial[kWarps];
  const int lane = threadIdx.x & 31, warp = threadIdx.x / 32;
  const LabelsRowWalk walk = labels_row_walk(kLabelsThreads, 1, kLabelsThreads, blockIdx.x, threadIdx.x, gridDim.x);
  for (int64_t row = walk.warp_first; row < a.rows; row += walk.step) {
    RowState s;
    reset<TopK>(s);
    consume_row<T, TopK, kLabelsThreads>(s, static_cast<const T*>(a.logits) + row * a.row_stride, a.classes,
                                         threadIdx.x);
    group_reduce<TopK>(s, 32);
    if (lane == 0) partial[warp] = s;
    __syncthreads();
    if (warp == 0) {
      RowState w;
      if (lane < kWarps) {
        w = partial[lane];
      } else {
        reset<TopK>(w);
      }
      group_reduce<TopK>(w, kWarps);
      if (lane == 0) write_row<TopK>(a, row, w);
    }
    __syncthreads();  // `partial` is rewritten for the next row
  }
}

// Binary (C == 1): one thread per row.
template <typename T>
__global__ void __launch_bounds__(kLabelsThreads) binary_labels_kernel(const LabelsLaunch a) {
  const LabelsRowWalk walk = labels_row_walk(1, 1, blockDim.x, blockIdx.x, threadIdx.x, gridDim.x);
  for (int64_t row = walk.warp_first + walk.group; row < a.rows; row += walk.step) {
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

template <typename Kernel, typename... Extra>
void launch(Kernel kernel, const LabelsMapping& m, const LabelsLaunch& a, cudaStream_t stream, Extra... extra) {
  kernel<<<resident_grid(kernel, m.threads, 0, m.blocks_wanted), m.threads, 0, stream>>>(a, extra...);
  TS_CUDA_CHECK_LAUNCH();
}

template <typename T, bool TopK>
void launch_strategy(const LabelsMapping& m, const LabelsLaunch& a, cudaStream_t stream) {
  switch (m.strategy) {
    case LabelsStrategy::Binary: launch(binary_labels_kernel<T>, m, a, stream); break;
    case LabelsStrategy::RowsPerWarp: launch(rows_per_warp_kernel<T, TopK>, m, a, stream, m.lanes_per_row); break;
    case LabelsStrategy::WarpPerRow: launch(warp_per_row_kernel<T, TopK>, m, a, stream); break;
    case LabelsStrategy::BlockPerRow: launch(block_per_row_kernel<T, TopK>, m, a, stream); break;
  }
}

template <typename T>
void launch_typed(const LabelsLaunch& a, cudaStream_t stream) {
  const LabelsMapping m = choose_labels_mapping(a.rows, a.classes, int(sizeof(T)));
  if (a.top_k > 0) {
    launch_strategy<T, true>(m, a, stream);
  } else {
    launch_strategy<T, false>(m, a, stream);
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
