// AVX2 (+ FMA, F16C) kernels of logits_cpu_simd.h: 8 float lanes, exp from SLEEF.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "ops/element_readers.h"
#include "logit_math.h"  // kernels/
#include "ops/simd/logits_cpu_simd.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(TRAINSCOPE_NO_SLEEF)
#include <immintrin.h>
#include <sleef.h>
// sleef.h declares each ISA's functions only when the whole file is built for that ISA; this one is
// built for the baseline, with the ISA on the kernels alone (see logits_cpu_kernels.h).
#ifndef __AVX2__
extern "C" __m256 Sleef_expf8_u10avx2(__m256);
#endif
#define TS_LOGITS_AVX2 1
#else
#define TS_LOGITS_AVX2 0
#endif

namespace trainscope::detail::logits_simd::avx2 {

#if TS_LOGITS_AVX2
namespace {

#define TS_SIMD __attribute__((target("avx2,fma,f16c"), always_inline)) inline
#define TS_SIMD_ENTRY __attribute__((target("avx2,fma,f16c")))

struct V {
  static constexpr int kWidth = 8;
  static constexpr int kBlock = 4;  // argmax_channels: 32 pixels per block, 8 of 16 registers
  using F = __m256;
  using I = __m256i;
  struct D {
    __m256d lo, hi;
  };

  template <Packed K>
  TS_SIMD static F convert(__m128i bits) {
    if constexpr (K == Packed::Float16) {
      return _mm256_cvtph_ps(bits);
    } else {  // bf16: the upper half of a float
      return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(bits), 16));
    }
  }
  template <Packed K>
  TS_SIMD static F load(const void* p, int64_t i) {
    if constexpr (K == Packed::Float32) {
      return _mm256_loadu_ps(static_cast<const float*>(p) + i);
    } else {
      return convert<K>(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(p) + i)));
    }
  }
  // fp32: a masked load; AVX2 has no 16-bit one, so those n elements go through a −Inf-filled buffer.
  template <Packed K>
  TS_SIMD static F load_partial(const void* p, int64_t i, int n) {
    if constexpr (K == Packed::Float32) {
      const __m256i lanes = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
      const F x = _mm256_maskload_ps(static_cast<const float*>(p) + i, lanes);
      return _mm256_blendv_ps(set1(-std::numeric_limits<float>::infinity()), x, _mm256_castsi256_ps(lanes));
    } else {
      alignas(16) uint16_t buffer[8];
      for (int j = 0; j < 8; ++j) buffer[j] = K == Packed::Float16 ? uint16_t(0xFC00) : uint16_t(0xFF80);
      std::memcpy(buffer, static_cast<const uint16_t*>(p) + i, sizeof(uint16_t) * std::size_t(n));
      return convert<K>(_mm_load_si128(reinterpret_cast<const __m128i*>(buffer)));
    }
  }
  TS_SIMD static F set1(float v) { return _mm256_set1_ps(v); }
  TS_SIMD static F zero() { return _mm256_setzero_ps(); }
  TS_SIMD static F max(F a, F b) { return _mm256_max_ps(a, b); }
  TS_SIMD static F sub(F a, F b) { return _mm256_sub_ps(a, b); }
  TS_SIMD static F add(F a, F b) { return _mm256_add_ps(a, b); }
  TS_SIMD static F exp(F x) { return Sleef_expf8_u10avx2(x); }
  TS_SIMD static float hmax(F a) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
  }
  TS_SIMD static unsigned eq_mask(F a, F b) {
    return static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(a, b, _CMP_EQ_OQ)));
  }
  TS_SIMD static D zero_double() { return {_mm256_setzero_pd(), _mm256_setzero_pd()}; }
  TS_SIMD static D widen_add(D acc, F s) {
    acc.lo = _mm256_add_pd(acc.lo, _mm256_cvtps_pd(_mm256_castps256_ps128(s)));
    acc.hi = _mm256_add_pd(acc.hi, _mm256_cvtps_pd(_mm256_extractf128_ps(s, 1)));
    return acc;
  }
  TS_SIMD static double hsum(D acc) {
    const __m256d s = _mm256_add_pd(acc.lo, acc.hi);
    const __m128d h = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
  }

  TS_SIMD static I lane_offsets(int stride) {
    return _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(stride));
  }
  TS_SIMD static F gather(const float* base, I offsets) { return _mm256_i32gather_ps(base, offsets, 4); }
  // Bit j: lane j is finite (x − x is 0, not NaN).
  TS_SIMD static unsigned finite_mask(F x) {
    return static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_sub_ps(x, x), zero(), _CMP_EQ_OQ)));
  }
  TS_SIMD static void store_labels(int64_t* p, I index) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm256_cvtepi32_epi64(_mm256_castsi256_si128(index)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p + 4), _mm256_cvtepi32_epi64(_mm256_extracti128_si256(index, 1)));
  }
  // 1 / sum per lane, rounded to float.
  TS_SIMD static void store_inverse(float* p, D sum) {
    const __m256d one = _mm256_set1_pd(1.0);
    _mm_storeu_ps(p, _mm256_cvtpd_ps(_mm256_div_pd(one, sum.lo)));
    _mm_storeu_ps(p + 4, _mm256_cvtpd_ps(_mm256_div_pd(one, sum.hi)));
  }

  TS_SIMD static I zero_int() { return _mm256_setzero_si256(); }
  TS_SIMD static I set1_int(int v) { return _mm256_set1_epi32(v); }
  TS_SIMD static void store_int(int32_t* p, I v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }
  // (v, c) replaces the best where it ranks before it: the best is not NaN, and v is larger or NaN.
  TS_SIMD static void update(F& best, I& index, F v, I c) {
    const F take = _mm256_and_ps(_mm256_cmp_ps(best, best, _CMP_ORD_Q), _mm256_cmp_ps(v, best, _CMP_NLE_UQ));
    best = _mm256_blendv_ps(best, v, take);
    index = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(index), _mm256_castsi256_ps(c), take));
  }
};

#include "ops/simd/logits_cpu_kernels.h"

}  // namespace

bool built() { return true; }
TS_DEFINE_LOGITS_ENTRY_POINTS(V)

#else

bool built() { return false; }
void label_rows(Packed, const void*, int64_t, int, int64_t, int64_t, int64_t*, float*) { std::abort(); }
void argmax_channels(Packed, const void*, int64_t, int, int64_t, int32_t*) { std::abort(); }

#endif

}  // namespace trainscope::detail::logits_simd::avx2
