#pragma once
// float16 / bfloat16 storage → float32 on the CPU (exact: every half and bfloat16 is a float).
// Element readers for the CPU paths of the ops that accept float32, float16 and bfloat16.
#include <cstdint>
#include <cstring>

namespace trainscope::detail {

inline float float_from_bits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline float bfloat16_to_float(uint16_t h) { return float_from_bits(uint32_t(h) << 16); }

inline float float16_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1Fu;
  uint32_t mantissa = h & 0x3FFu;
  if (exponent == 0x1F) return float_from_bits(sign | 0x7F800000u | (mantissa << 13));  // Inf/NaN
  if (exponent != 0) return float_from_bits(sign | ((exponent + 112u) << 23) | (mantissa << 13));
  if (mantissa == 0) return float_from_bits(sign);  // ±0
  // Subnormal half: normalise into a float.
  int e = -1;
  do {
    mantissa <<= 1;
    ++e;
  } while ((mantissa & 0x400u) == 0);
  return float_from_bits(sign | (uint32_t(112 - e) << 23) | ((mantissa & 0x3FFu) << 13));
}

// Readers: Reader::Storage is the element type in memory, Reader::load(p) its float value.
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

}  // namespace trainscope::detail
