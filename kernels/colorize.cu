#include "colorize.h"

#include <algorithm>
#include <cstdint>

#include "colorize_paths.h"
#include "cuda_check.cuh"
#include "dtype_dispatch.h"
#include "resident_grid.cuh"

namespace trainscope::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kPixelsPerThread = kMaskPixelsPerThread;

// The 4 ids of a group with one vector load (int64: two 16-byte loads; int32: one 16-byte load;
// uint8: one 4-byte load) instead of four scalar ones. `first` is a multiple of 4.
template <typename Id>
__device__ __forceinline__ void load_group(const Id* mask, int64_t first, int64_t (&ids)[kPixelsPerThread]) {
  static_assert(kPixelsPerThread == 4, "one vector load per 4 ids");
  if constexpr (sizeof(Id) == 8) {
    const auto* p = reinterpret_cast<const longlong2*>(mask + first);
    const longlong2 a = __ldg(p), b = __ldg(p + 1);
    ids[0] = a.x; ids[1] = a.y; ids[2] = b.x; ids[3] = b.y;
  } else if constexpr (sizeof(Id) == 4) {
    const int4 v = __ldg(reinterpret_cast<const int4*>(mask + first));
    ids[0] = v.x; ids[1] = v.y; ids[2] = v.z; ids[3] = v.w;
  } else {
    const uchar4 v = __ldg(reinterpret_cast<const uchar4*>(mask + first));
    ids[0] = v.x; ids[1] = v.y; ids[2] = v.z; ids[3] = v.w;
  }
}

template <typename Id>
__global__ void mask_to_rgb_kernel(const Id* __restrict__ mask, int64_t pixels,
                                   const __grid_constant__ PaletteParam palette,
                                   uint8_t* __restrict__ rgb, unsigned long long* ignored,
                                   MaskToRgbPaths paths) {
  __shared__ uint8_t table[(kMaxPaletteColors + 1) * 3];  // last entry: the ignore colour
  for (int i = threadIdx.x; i < palette.size * 3; i += blockDim.x) table[i] = palette.rgb[i];
  if (threadIdx.x < 3) table[palette.size * 3 + threadIdx.x] = palette.ignore[threadIdx.x];
  __syncthreads();

  unsigned long long local_ignored = 0;
  const int64_t groups = (pixels + kPixelsPerThread - 1) / kPixelsPerThread;
  for (int64_t g = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; g < groups;
       g += int64_t(gridDim.x) * blockDim.x) {
    const int64_t first = g * kPixelsPerThread;
    uint8_t out[kPixelsPerThread * 3];
    int64_t ids[kPixelsPerThread];
    if (paths.vector_loads && first + kPixelsPerThread <= pixels) {
      load_group(mask, first, ids);
    } else {
#pragma unroll
      for (int k = 0; k < kPixelsPerThread; ++k) ids[k] = first + k < pixels ? static_cast<int64_t>(mask[first + k]) : 0;
    }
#pragma unroll
    for (int k = 0; k < kPixelsPerThread; ++k) {
      int entry = palette.size;
      if (first + k < pixels) {
        const int64_t id = ids[k];
        if (id >= 0 && id < palette.size) {
          entry = static_cast<int>(id);
        } else {
          ++local_ignored;
        }
      }
      out[3 * k + 0] = table[3 * entry + 0];
      out[3 * k + 1] = table[3 * entry + 1];
      out[3 * k + 2] = table[3 * entry + 2];
    }
    uint8_t* dst = rgb + 3 * first;
    if (paths.word_stores && first + kPixelsPerThread <= pixels) {
      uint32_t* d32 = reinterpret_cast<uint32_t*>(dst);
#pragma unroll
      for (int w = 0; w < 3; ++w) {
        d32[w] = uint32_t(out[4 * w]) | uint32_t(out[4 * w + 1]) << 8 |
                 uint32_t(out[4 * w + 2]) << 16 | uint32_t(out[4 * w + 3]) << 24;
      }
    } else {
      // Byte stores: an unaligned output, or the last group. Constant indices after unrolling
      // keep `out` in registers (a runtime bound would move it to local memory).
#pragma unroll
      for (int k = 0; k < kPixelsPerThread; ++k) {
        if (first + k < pixels) {
          dst[3 * k + 0] = out[3 * k + 0];
          dst[3 * k + 1] = out[3 * k + 1];
          dst[3 * k + 2] = out[3 * k + 2];
        }
      }
    }
  }
  if (ignored) {
    for (int offset = 16; offset > 0; offset /= 2)
      local_ignored += __shfl_down_sync(0xffffffffu, local_ignored, offset);
    if ((threadIdx.x & 31) == 0 && local_ignored) atomicAdd(ignored, local_ignored);
  }
}

template <typename Id>
void launch_typed(const void* mask, int64_t pixels, const PaletteParam& palette, uint8_t* rgb,
                  int64_t* ignored, cudaStream_t stream) {
  const int64_t groups = (pixels + kPixelsPerThread - 1) / kPixelsPerThread;
  const int blocks = resident_grid(mask_to_rgb_kernel<Id>, kThreads, 0, (groups + kThreads - 1) / kThreads);
  const MaskToRgbPaths paths = mask_to_rgb_paths(mask, sizeof(Id), rgb);
  mask_to_rgb_kernel<Id><<<blocks, kThreads, 0, stream>>>(
      static_cast<const Id*>(mask), pixels, palette, rgb,
      reinterpret_cast<unsigned long long*>(ignored), paths);
  TS_CUDA_CHECK_LAUNCH();
}

}  // namespace

void launch_mask_to_rgb(const void* mask, DType mask_dtype, int64_t pixels, const PaletteParam& param,
                        uint8_t* rgb, int64_t* ignored, int device, Stream stream) {
  DeviceGuard guard(device);
  auto s = static_cast<cudaStream_t>(stream.handle);
  if (ignored) TS_CUDA_CHECK(cudaMemsetAsync(ignored, 0, sizeof(int64_t), s));
  if (pixels == 0) return;

  detail::dispatch<detail::MaskIdDTypes>(mask_dtype, [&](auto tag) {
    launch_typed<typename decltype(tag)::type>(mask, pixels, param, rgb, ignored, s);
  });
}

}  // namespace trainscope::kernels
