#pragma once
// Vector loads of float32 / float16 / bfloat16 elements converted to float, for the memory-bound
// label and segmentation kernels: one 16-, 8-, 4- or 2-byte read-only load per call.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "trainscope/tensor_view.h"

namespace trainscope::kernels {

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <int Bytes> struct RawVector;
template <> struct RawVector<16> { using type = uint4; };
template <> struct RawVector<8> { using type = uint2; };
template <> struct RawVector<4> { using type = unsigned int; };
template <> struct RawVector<2> { using type = unsigned short; };

// Loads N consecutive elements at p (aligned to N·sizeof(T)) as floats.
template <typename T, int N>
__device__ __forceinline__ void load_floats(const T* p, float (&out)[N]) {
  using Raw = typename RawVector<N * int(sizeof(T))>::type;
  const Raw raw = __ldg(reinterpret_cast<const Raw*>(p));
  const T* elements = reinterpret_cast<const T*>(&raw);
#pragma unroll
  for (int j = 0; j < N; ++j) out[j] = to_float(elements[j]);
}

inline bool aligned_to(const void* p, int64_t bytes) {
  return reinterpret_cast<std::uintptr_t>(p) % static_cast<std::uintptr_t>(bytes) == 0;
}

}  // namespace trainscope::kernels
