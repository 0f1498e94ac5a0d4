#pragma once
// float16 / bfloat16 bits → float for building expected values in tests, by bit manipulation:
// written apart from the library's decoding (histogram_math.h) so the two check each other.
#include <cstdint>
#include <cstring>

namespace trainscope::test_support {

inline float float_from_bits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline float bfloat16_reference(uint16_t h) { return float_from_bits(uint32_t(h) << 16); }

inline float float16_reference(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1Fu;
  uint32_t mantissa = h & 0x3FFu;
  if (exponent == 0x1F) return float_from_bits(sign | 0x7F800000u | (mantissa << 13));  // Inf/NaN
  if (exponent != 0) return float_from_bits(sign | ((exponent + 112u) << 23) | (mantissa << 13));
  if (mantissa == 0) return float_from_bits(sign);  // ±0
  int e = -1;  // subnormal half: normalise into a float
  do {
    mantissa <<= 1;
    ++e;
  } while ((mantissa & 0x400u) == 0);
  return float_from_bits(sign | (uint32_t(112 - e) << 23) | ((mantissa & 0x3FFu) << 13));
}

}  // namespace trainscope::test_support
