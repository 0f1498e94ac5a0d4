#pragma once
// Element readers of the CPU paths of the ops that take float32, float16 and bfloat16 logits:
// Reader::Storage is the element type in memory, Reader::load(p) its float value. The 16-bit
// decoding is histogram_math.h's (exact: every half and bfloat16 is a float), the one the
// histogram op uses too; ReaderFor<T> maps dtype_dispatch.h's element types to the readers.
#include <cstdint>

#include "dtype_dispatch.h"  // kernels/
#include "histogram_math.h"  // kernels/

namespace trainscope::detail {

inline float float16_to_float(uint16_t h) { return static_cast<float>(histogram_math::half_bits_to_double(h)); }
inline float bfloat16_to_float(uint16_t h) { return static_cast<float>(histogram_math::bfloat16_bits_to_double(h)); }

struct Float32Reader {
  using Storage = float;
  static float load(const Storage* p) { return *p; }
};
struct Float16Reader {
  using Storage = uint16_t;
  static float load(const Storage* p) { return float16_to_float(*p); }
};
struct BFloat16Reader {
  using Storage = uint16_t;
  static float load(const Storage* p) { return bfloat16_to_float(*p); }
};

template <typename T> struct ReaderFor;
template <> struct ReaderFor<float> { using type = Float32Reader; };
template <> struct ReaderFor<kernels::Float16Bits> { using type = Float16Reader; };
template <> struct ReaderFor<kernels::BFloat16Bits> { using type = BFloat16Reader; };

}  // namespace trainscope::detail
