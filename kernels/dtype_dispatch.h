#pragma once
// The one place that maps a DType to the C++ element type that the CPU paths (src/ops) and the
// CUDA kernels read, and the lists of dtypes each op accepts (docs/ops.md). An op checks
// `accepts<List>(dtype)` (its error message names the list with `names<List>()`), then calls
// `dispatch<List>(dtype, f)` — on the host or in a kernel — which calls f(TypeTag<T>{}) with T the
// element type. Adding a dtype to an op is one edit of its list. 16-bit floats are raw bits here,
// decoded by histogram_math.h's exact conversions (CPU) or the CUDA intrinsics (device).
#include <cstdint>
#include <string>
#include <type_traits>

#include "trainscope/error.h"
#include "trainscope/tensor_view.h"

#ifdef __CUDACC__
#define TS_DISPATCH_HD __host__ __device__ __forceinline__
#else
#define TS_DISPATCH_HD inline
#endif

namespace trainscope::kernels {

struct Float16Bits { uint16_t bits; };
struct BFloat16Bits { uint16_t bits; };

}  // namespace trainscope::kernels

namespace trainscope::detail {

template <typename T>
struct TypeTag {
  using type = T;
};
template <typename... Ts>
struct DTypeList {};

// Element type → DType.
template <typename T>
TS_DISPATCH_HD constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, float>) return DType::Float32;
  else if constexpr (std::is_same_v<T, kernels::Float16Bits>) return DType::Float16;
  else if constexpr (std::is_same_v<T, kernels::BFloat16Bits>) return DType::BFloat16;
  else if constexpr (std::is_same_v<T, double>) return DType::Float64;
  else if constexpr (std::is_same_v<T, uint8_t>) return DType::UInt8;
  else if constexpr (std::is_same_v<T, int8_t>) return DType::Int8;
  else if constexpr (std::is_same_v<T, int16_t>) return DType::Int16;
  else if constexpr (std::is_same_v<T, int32_t>) return DType::Int32;
  else if constexpr (std::is_same_v<T, int64_t>) return DType::Int64;
  else {
    static_assert(std::is_same_v<T, bool>, "no DType for this element type");
    return DType::Bool;
  }
}

// The dtypes of the ops (docs/ops.md).
using FloatDTypes = DTypeList<float, kernels::Float16Bits, kernels::BFloat16Bits>;  // logits
using MaskIdDTypes = DTypeList<uint8_t, int32_t, int64_t>;                             // class ids
using HistogramDTypes = DTypeList<float, kernels::Float16Bits, kernels::BFloat16Bits, double, uint8_t,
                                  int8_t, int16_t, int32_t, int64_t, bool>;

template <typename... Ts>
TS_DISPATCH_HD constexpr bool accepts(DTypeList<Ts...>, DType dtype) {
  return ((dtype == dtype_of<Ts>()) || ...);
}
template <typename List>
TS_DISPATCH_HD constexpr bool accepts(DType dtype) {
  return accepts(List{}, dtype);
}

// "float32, float16 or bfloat16".
template <typename... Ts>
std::string names(DTypeList<Ts...>) {
  const char* all[] = {dtype_name(dtype_of<Ts>())...};
  const std::size_t n = sizeof...(Ts);
  std::string text;
  for (std::size_t i = 0; i < n; ++i) text += std::string(i == 0 ? "" : i + 1 == n ? " or " : ", ") + all[i];
  return text;
}
template <typename List>
std::string names() {
  return names(List{});
}

// Calls f(TypeTag<T>{}) for the element type of `dtype`; f returns void. The dtype was checked
// with accepts<List>; one outside the list is a bug in the op: it throws (host) or traps (device).
template <typename T, typename... Rest, typename F>
TS_DISPATCH_HD void dispatch_in(DType dtype, F&& f) {
  if (dtype == dtype_of<T>()) {
    f(TypeTag<T>{});
  } else if constexpr (sizeof...(Rest) > 0) {
    dispatch_in<Rest...>(dtype, static_cast<F&&>(f));
  } else {
#ifdef __CUDA_ARCH__
    __trap();
#else
    throw Error(std::string("dtype dispatch: ") + dtype_name(dtype) + " is not in the op's list");
#endif
  }
}
template <typename... Ts, typename F>
TS_DISPATCH_HD void dispatch(DTypeList<Ts...>, DType dtype, F&& f) {
  dispatch_in<Ts...>(dtype, static_cast<F&&>(f));
}
template <typename List, typename F>
TS_DISPATCH_HD void dispatch(DType dtype, F&& f) {
  dispatch(List{}, dtype, static_cast<F&&>(f));
}

}  // namespace trainscope::detail
