// Fused segmentation on CUDA: logits → per-pixel argmax → RGB through the palette, with per-class
// predicted-pixel counts and IoU counts, in one pass over the logits.
//  - channels-first [N, C, H, W]: each thread owns 4 consecutive pixels and strides across the C
//    planes with one coalesced vector load per plane (16 bytes for float32, 8 for 16-bit floats);
//  - channels-last [N, H, W, C]: each thread owns a pixel and reads its C values with the widest
//    aligned vector loads.
// Counts are reduced per block in shared memory, then added to the outputs with global atomics.
#include "segmentation.h"

#include <algorithm>

#include "cuda_check.cuh"
#include "float_loads.cuh"
#include "logit_math.h"
#include "resident_grid.cuh"

namespace trainscope::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kUnrollPlanes = 4;  // planes loaded before they are compared (loads in flight)
// Per-block counters live in shared memory while 3·C of them fit in this many bytes.
constexpr int kSharedCounterBytes = 32 * 1024;

// Block-wide counters: shared when they fit, else straight to the (zeroed) global outputs.
struct Counters {
  bool in_shared;        // 3·C counters fit in shared memory
  unsigned int* shared;  // [3·C]: counts, intersection, union; set by the kernel when in_shared
  unsigned long long* global[3];
  int classes;

  __device__ void add(int which, int cls, unsigned int n) const {
    if (!global[which]) return;
    if (shared) {
      atomicAdd(shared + which * classes + cls, n);
    } else {
      atomicAdd(global[which] + cls, (unsigned long long)n);
    }
  }
  __device__ void flush() const {
    if (!shared) return;
#pragma unroll
    for (int which = 0; which < 3; ++which) {  // constant indices keep `global` in registers
      if (!global[which]) continue;
      for (int c = threadIdx.x; c < classes; c += blockDim.x) {
        const unsigned int n = shared[which * classes + c];
        if (n) atomicAdd(global[which] + c, (unsigned long long)n);
      }
    }
  }
};

__device__ __forceinline__ int64_t load_target(const void* target, DType dtype, int64_t pixel) {
  switch (dtype) {
    case DType::UInt8: return static_cast<const uint8_t*>(target)[pixel];
    case DType::Int32: return static_cast<const int32_t*>(target)[pixel];
    default: return static_cast<const int64_t*>(target)[pixel];
  }
}

// Later classes replace the current best only when they rank before it (the first NaN wins,
// ties stay with the lower class), the argmax order of logit_math.h for increasing indices.
__device__ __forceinline__ void take_if_better(float v, int c, float& best, int& cls) {
  if (!is_nan(best) && (v > best || is_nan(v))) {
    best = v;
    cls = c;
  }
}

__device__ __forceinline__ void setup_block(const PaletteParam& palette, uint8_t* table, const Counters& counters) {
  for (int i = threadIdx.x; i < palette.size * 3; i += blockDim.x) table[i] = palette.rgb[i];
  if (threadIdx.x < 3) table[palette.size * 3 + threadIdx.x] = palette.ignore[threadIdx.x];
  if (counters.shared) {
    for (int i = threadIdx.x; i < 3 * counters.classes; i += blockDim.x) counters.shared[i] = 0;
  }
  __syncthreads();
}

// Colours, counts and IoU for P consecutive pixels starting at `first` (P·3 bytes of RGB).
template <int P>
__device__ __forceinline__ void emit(const SegmentationLaunch& a, const uint8_t* table, int palette_size,
                                     const Counters& counters, int64_t first, const int (&cls)[P]) {
  uint8_t out[3 * P];
#pragma unroll
  for (int k = 0; k < P; ++k) {
    const int entry = cls[k] < palette_size ? cls[k] : palette_size;
    out[3 * k + 0] = table[3 * entry + 0];
    out[3 * k + 1] = table[3 * entry + 1];
    out[3 * k + 2] = table[3 * entry + 2];
  }
  uint8_t* dst = a.rgb + 3 * first;
  if (P % 4 == 0) {
    // 3·first is a multiple of 12: 4-byte aligned (the launcher checks the base).
#pragma unroll
    for (int w = 0; w < 3 * P / 4; ++w) {
      reinterpret_cast<uint32_t*>(dst)[w] = uint32_t(out[4 * w]) | uint32_t(out[4 * w + 1]) << 8 |
                                            uint32_t(out[4 * w + 2]) << 16 | uint32_t(out[4 * w + 3]) << 24;
    }
  } else {
#pragma unroll
    for (int b = 0; b < 3 * P; ++b) dst[b] = out[b];
  }

  // Runs of equal classes are counted with one atomic.
  int run_class = cls[0];
  unsigned int run = 1;
#pragma unroll
  for (int k = 1; k < P; ++k) {
    if (cls[k] == run_class) {
      ++run;
    } else {
      counters.add(0, run_class, run);
      run_class = cls[k];
      run = 1;
    }
  }
  counters.add(0, run_class, run);

  if (a.target && (counters.global[1] || counters.global[2])) {
#pragma unroll
    for (int k = 0; k < P; ++k) {
      const int64_t t = load_target(a.target, a.target_dtype, first + k);
      if (t < 0 || t >= a.classes) continue;  // pixels with an out-of-range target are left out of IoU
      counters.add(2, cls[k], 1);
      if (t == cls[k]) {
        counters.add(1, cls[k], 1);
      } else {
        counters.add(2, int(t), 1);
      }
    }
  }
}

template <typename T, int P>
__global__ void __launch_bounds__(kThreads)
    channels_first_kernel(const SegmentationLaunch a, const __grid_constant__ PaletteParam palette, Counters counters) {
  extern __shared__ unsigned int shared_counters[];
  __shared__ uint8_t table[(kMaxPaletteColors + 1) * 3];
  counters.shared = counters.in_shared ? shared_counters : nullptr;
  setup_block(palette, table, counters);

  const T* logits = static_cast<const T*>(a.logits);
  const int classes = a.classes;
  const int64_t plane = a.pixels_per_image;
  const int64_t groups = a.images * plane / P;  // P divides H·W
  for (int64_t g = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; g < groups; g += int64_t(gridDim.x) * blockDim.x) {
    const int64_t first = g * P;
    const int64_t image = first / plane;
    const T* pixels = logits + image * classes * plane + (first - image * plane);
    float best[P];
    int cls[P];
    load_floats<T, P>(pixels, best);
#pragma unroll
    for (int k = 0; k < P; ++k) cls[k] = 0;
    int c = 1;
    for (; c + kUnrollPlanes <= classes; c += kUnrollPlanes) {
      float f[kUnrollPlanes][P];
#pragma unroll
      for (int u = 0; u < kUnrollPlanes; ++u) load_floats<T, P>(pixels + (c + u) * plane, f[u]);
#pragma unroll
      for (int u = 0; u < kUnrollPlanes; ++u) {
#pragma unroll
        for (int k = 0; k < P; ++k) take_if_better(f[u][k], c + u, best[k], cls[k]);
      }
    }
    for (; c < classes; ++c) {
      float f[P];
      load_floats<T, P>(pixels + c * plane, f);
#pragma unroll
      for (int k = 0; k < P; ++k) take_if_better(f[k], c, best[k], cls[k]);
    }
    emit<P>(a, table, palette.size, counters, first, cls);
  }
  __syncthreads();
  counters.flush();
}

template <typename T, int V>
__global__ void __launch_bounds__(kThreads)
    channels_last_kernel(const SegmentationLaunch a, const __grid_constant__ PaletteParam palette, Counters counters) {
  extern __shared__ unsigned int shared_counters[];
  __shared__ uint8_t table[(kMaxPaletteColors + 1) * 3];
  counters.shared = counters.in_shared ? shared_counters : nullptr;
  setup_block(palette, table, counters);

  const int classes = a.classes;
  const int64_t pixels = a.images * a.pixels_per_image;
  const int vectors = classes / V;  // V divides C
  for (int64_t p = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; p < pixels; p += int64_t(gridDim.x) * blockDim.x) {
    const T* x = static_cast<const T*>(a.logits) + p * classes;
    float best = 0.f;
    int cls[1] = {-1};
    for (int v = 0; v < vectors; ++v) {
      float f[V];
      load_floats<T, V>(x + v * V, f);
#pragma unroll
      for (int j = 0; j < V; ++j) {
        if (cls[0] < 0) {
          best = f[j];
          cls[0] = v * V + j;
        } else {
          take_if_better(f[j], v * V + j, best, cls[0]);
        }
      }
    }
    emit<1>(a, table, palette.size, counters, p, cls);
  }
  __syncthreads();
  counters.flush();
}

template <typename Kernel>
void launch(Kernel kernel, int64_t work_items, const SegmentationLaunch& a, const PaletteParam& palette,
            Counters counters, cudaStream_t stream) {
  const size_t shared_bytes = counters.in_shared ? size_t(3) * a.classes * sizeof(unsigned int) : 0;
  const int blocks = resident_grid(kernel, kThreads, shared_bytes, (work_items + kThreads - 1) / kThreads);
  kernel<<<blocks, kThreads, shared_bytes, stream>>>(a, palette, counters);
  TS_CUDA_CHECK_LAUNCH();
}

template <typename T>
void launch_typed(const SegmentationLaunch& a, const PaletteParam& palette, Counters counters, cudaStream_t stream) {
  const int64_t pixels = a.images * a.pixels_per_image;
  constexpr int kElementsPer16 = 16 / int(sizeof(T));
  if (!a.channels_last) {
    // Four pixels per thread: one 16-byte (float32) or 8-byte (16-bit) load per plane, 12 bytes of
    // RGB as three word stores. (Eight 16-bit pixels per thread exhaust the registers.)
    constexpr int kPixels = 4;
    const bool vectorized = a.pixels_per_image % kPixels == 0 && aligned_to(a.logits, kPixels * sizeof(T)) &&
                            aligned_to(a.rgb, 4);
    if (vectorized) {
      launch(channels_first_kernel<T, kPixels>, pixels / kPixels, a, palette, counters, stream);
    } else {
      launch(channels_first_kernel<T, 1>, pixels, a, palette, counters, stream);
    }
    return;
  }
  const int64_t row_bytes = int64_t(a.classes) * int64_t(sizeof(T));
  if (row_bytes % 16 == 0 && aligned_to(a.logits, 16)) {
    launch(channels_last_kernel<T, kElementsPer16>, pixels, a, palette, counters, stream);
  } else if (row_bytes % 8 == 0 && aligned_to(a.logits, 8)) {
    launch(channels_last_kernel<T, 8 / int(sizeof(T))>, pixels, a, palette, counters, stream);
  } else {
    launch(channels_last_kernel<T, 1>, pixels, a, palette, counters, stream);
  }
}

}  // namespace

void launch_segmentation_to_rgb(const SegmentationLaunch& args, const PaletteParam& param, int device,
                                Stream stream) {
  DeviceGuard guard(device);
  auto s = static_cast<cudaStream_t>(stream.handle);
  const size_t count_bytes = size_t(args.classes) * sizeof(int64_t);
  for (int64_t* out : {args.class_counts, args.intersection, args.union_counts}) {
    if (out) TS_CUDA_CHECK(cudaMemsetAsync(out, 0, count_bytes, s));
  }
  if (args.images * args.pixels_per_image == 0) return;

  Counters counters{};
  counters.classes = args.classes;
  counters.global[0] = reinterpret_cast<unsigned long long*>(args.class_counts);
  counters.global[1] = reinterpret_cast<unsigned long long*>(args.target ? args.intersection : nullptr);
  counters.global[2] = reinterpret_cast<unsigned long long*>(args.target ? args.union_counts : nullptr);
  counters.in_shared = int64_t(3) * args.classes * int64_t(sizeof(unsigned int)) <= kSharedCounterBytes;
  counters.shared = nullptr;

  detail::dispatch<detail::FloatDTypes>(args.dtype, [&](auto tag) {
    launch_typed<cuda_element_t<decltype(tag)>>(args, param, counters, s);
  });
}

}  // namespace trainscope::kernels
