#pragma once
// Vector loads of float32 / float16 / bfloat16 elements converted to float, for the memory-bound
// label and segmentation kernels.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "dtype_dispatch.h"
#include "trainscope/tensor_view.h"

namespace trainscope::kernels {

// The CUDA type of a dispatched element type (dtype_dispatch.h): 16-bit floats as __half/__nv_bfloat16.
template <typename T> struct CudaElement { using type = T; };
template <> struct CudaElement<Float16Bits> { using type = __half; };
template <> struct CudaElement<BFloat16Bits> { using type = __nv_bfloat16; };
template <typename Tag> using cuda_element_t = typename CudaElement<typename Tag::type>::type;

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

// A 16-bit float pattern as float.
template <typename T> __device__ __forceinline__ float from_bits(unsigned int bits);
template <> __device__ __forceinline__ float from_bits<__half>(unsigned int bits) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(bits)));
}
template <> __device__ __forceinline__ float from_bits<__nv_bfloat16>(unsigned int bits) {
  return __uint_as_float(bits << 16);
}

// The N elements of type T packed in `words` (little-endian) as floats: bit casts for fp32, the
// exact 16-bit decodes otherwise.
template <typename T, int N, int W>
__device__ __forceinline__ void unpack_words(const unsigned int (&words)[W], float (&out)[N]) {
  static_assert(N * int(sizeof(T)) == 4 * W, "the words hold exactly N elements");
#pragma unroll
  for (int j = 0; j < N; ++j) {
    if constexpr (sizeof(T) == 4) {
      out[j] = __uint_as_float(words[j]);
    } else {
      const unsigned int word = words[j / 2];
      out[j] = from_bits<T>(j % 2 ? word >> 16 : word & 0xFFFFu);
    }
  }
}

// Loads N consecutive elements at p (aligned to N·sizeof(T)) as floats with one 16-, 8-, 4- or
// 2-byte load. Elements are unpacked from the loaded words with shifts (little-endian), so
// nothing is staged through local memory.
template <typename T, int N>
__device__ __forceinline__ void load_floats(const T* p, float (&out)[N]) {
  constexpr int kBytes = N * int(sizeof(T));
  static_assert(kBytes == 2 || kBytes == 4 || kBytes == 8 || kBytes == 16, "unsupported vector width");
  if constexpr (kBytes == 2) {
    out[0] = from_bits<T>(__ldg(reinterpret_cast<const unsigned short*>(p)));
  } else {
    unsigned int words[kBytes / 4];
    if constexpr (kBytes == 16) {
      const uint4 v = __ldg(reinterpret_cast<const uint4*>(p));
      words[0] = v.x;
      words[1] = v.y;
      words[2] = v.z;
      words[3] = v.w;
    } else if constexpr (kBytes == 8) {
      const uint2 v = __ldg(reinterpret_cast<const uint2*>(p));
      words[0] = v.x;
      words[1] = v.y;
    } else {
      words[0] = __ldg(reinterpret_cast<const unsigned int*>(p));
    }
    unpack_words<T>(words, out);
  }
}

inline bool aligned_to(const void* p, int64_t bytes) {
  return reinterpret_cast<std::uintptr_t>(p) % static_cast<std::uintptr_t>(bytes) == 0;
}

}  // namespace trainscope::kernels
