// AVX-512 (F, BW, DQ, VL) kernels of logits_cpu_simd.h: 16 float lanes, exp from SLEEF.
#include <cstdint>
#include <cstdlib>
#include <limits>

#include "ops/element_readers.h"
#include "logit_math.h"  // kernels/
#include "ops/simd/logits_cpu_simd.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(TRAINSCOPE_NO_SLEEF)
#if defined(__GNUC__) && !defined(__clang__)
// GCC's _mm512_reduce_* and _mm512_undefined_* initialise a vector from itself on purpose.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#include <sleef.h>
// sleef.h declares each ISA's functions only when the whole file is built for that ISA; this one is
// built for the baseline, with the ISA on the kernels alone (see logits_cpu_kernels.h).
#ifndef __AVX512F__
extern "C" __m512 Sleef_expf16_u10avx512f(__m512);
#endif
#define TS_LOGITS_AVX512 1
#else
#define TS_LOGITS_AVX512 0
#endif

namespace trainscope::detail::logits_simd::avx512 {

#if TS_LOGITS_AVX512
namespace {

#define TS_SIMD __attribute__((target("avx2,fma,f16c,avx512f,avx512dq,avx512bw,avx512vl"), always_inline)) inline
#define TS_SIMD_ENTRY __attribute__((target("avx2,fma,f16c,avx512f,avx512dq,avx512bw,avx512vl")))

struct V {
  static constexpr int kWidth = 16;
  static constexpr int kBlock = 4;  // argmax_channels: 64 pixels per block, 8 of 32 registers
  using F = __m512;
  using I = __m512i;
  struct D {
    __m512d lo, hi;
  };

  template <Packed K>
  TS_SIMD static F convert(__m256i bits) {
    if constexpr (K == Packed::Float16) {
      return _mm512_cvtph_ps(bits);
    } else {  // bf16: the upper half of a float
      return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(bits), 16));
    }
  }
  template <Packed K>
  TS_SIMD static F load(const void* p, int64_t i) {
    if constexpr (K == Packed::Float32) {
      return _mm512_loadu_ps(static_cast<const float*>(p) + i);
    } else {
      return convert<K>(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(p) + i)));
    }
  }
  template <Packed K>
  TS_SIMD static F load_partial(const void* p, int64_t i, int n) {
    const __mmask16 m = static_cast<__mmask16>((1u << n) - 1u);
    if constexpr (K == Packed::Float32) {
      return _mm512_mask_loadu_ps(set1(-std::numeric_limits<float>::infinity()), m, static_cast<const float*>(p) + i);
    } else {
      const short neg_inf = K == Packed::Float16 ? short(0xFC00) : short(0xFF80);
      return convert<K>(_mm256_mask_loadu_epi16(_mm256_set1_epi16(neg_inf), m, static_cast<const uint16_t*>(p) + i));
    }
  }
  TS_SIMD static F set1(float v) { return _mm512_set1_ps(v); }
  TS_SIMD static F zero() { return _mm512_setzero_ps(); }
  TS_SIMD static F max(F a, F b) { return _mm512_max_ps(a, b); }
  TS_SIMD static F sub(F a, F b) { return _mm512_sub_ps(a, b); }
  TS_SIMD static F add(F a, F b) { return _mm512_add_ps(a, b); }
  TS_SIMD static F exp(F x) { return Sleef_expf16_u10avx512f(x); }
  TS_SIMD static float hmax(F a) { return _mm512_reduce_max_ps(a); }
  TS_SIMD static unsigned eq_mask(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
  TS_SIMD static D zero_double() { return {_mm512_setzero_pd(), _mm512_setzero_pd()}; }
  TS_SIMD static D widen_add(D acc, F s) {
    acc.lo = _mm512_add_pd(acc.lo, _mm512_cvtps_pd(_mm512_castps512_ps256(s)));
    acc.hi = _mm512_add_pd(acc.hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1))));
    return acc;
  }
  TS_SIMD static double hsum(D acc) { return _mm512_reduce_add_pd(_mm512_add_pd(acc.lo, acc.hi)); }

  TS_SIMD static I lane_offsets(int stride) {
    return _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                              _mm512_set1_epi32(stride));
  }
  TS_SIMD static F gather(const float* base, I offsets) { return _mm512_i32gather_ps(offsets, base, 4); }
  // Bit j: lane j is finite (x − x is 0, not NaN).
  TS_SIMD static unsigned finite_mask(F x) { return _mm512_cmp_ps_mask(_mm512_sub_ps(x, x), zero(), _CMP_EQ_OQ); }
  TS_SIMD static void store_labels(int64_t* p, I index) {
    _mm512_storeu_si512(p, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(index)));
    _mm512_storeu_si512(p + 8, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(index, 1)));
  }
  // 1 / sum per lane, rounded to float.
  TS_SIMD static void store_inverse(float* p, D sum) {
    const __m512d one = _mm512_set1_pd(1.0);
    _mm256_storeu_ps(p, _mm512_cvtpd_ps(_mm512_div_pd(one, sum.lo)));
    _mm256_storeu_ps(p + 8, _mm512_cvtpd_ps(_mm512_div_pd(one, sum.hi)));
  }

  TS_SIMD static I zero_int() { return _mm512_setzero_si512(); }
  TS_SIMD static I set1_int(int v) { return _mm512_set1_epi32(v); }
  TS_SIMD static void store_int(int32_t* p, I v) { _mm512_storeu_si512(p, v); }
  // (v, c) replaces the best where it ranks before it: the best is not NaN, and v is larger or NaN.
  TS_SIMD static void update(F& best, I& index, F v, I c) {
    const __mmask16 ordered = _mm512_cmp_ps_mask(best, best, _CMP_ORD_Q);
    const __mmask16 take = _mm512_mask_cmp_ps_mask(ordered, v, best, _CMP_NLE_UQ);
    best = _mm512_mask_mov_ps(best, take, v);
    index = _mm512_mask_mov_epi32(index, take, c);
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

}  // namespace trainscope::detail::logits_simd::avx512
