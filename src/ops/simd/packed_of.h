#pragma once
// The vector paths' element layout (logits_cpu_simd.h) of a dispatched element type
// (dtype_dispatch.h).
#include <type_traits>

#include "dtype_dispatch.h"  // kernels/
#include "ops/simd/logits_cpu_simd.h"

namespace trainscope::detail::logits_simd {

template <typename T>
constexpr Packed packed_of() {
  if constexpr (std::is_same_v<T, float>) return Packed::Float32;
  else if constexpr (std::is_same_v<T, kernels::Float16Bits>) return Packed::Float16;
  else {
    static_assert(std::is_same_v<T, kernels::BFloat16Bits>, "the vector paths read float32, float16 and bfloat16");
    return Packed::BFloat16;
  }
}

}  // namespace trainscope::detail::logits_simd
