#include "ops/histogram_cpu_avx512.h"

#include <cstdlib>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define TS_AVX512_KERNELS 1
#else
#define TS_AVX512_KERNELS 0
#endif

namespace trainscope::detail::avx512 {

#if TS_AVX512_KERNELS
namespace {

namespace hm = histogram_math;

// Every function that touches a 512-bit register carries the target attribute, so the rest of the
// library is built for the baseline ISA and this code only runs after available() said yes. They
// all have internal linkage: no AVX-512 copy of a shared inline function can reach other files.
#define TS_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl"), always_inline)) inline

// fpclass categories: QNaN | SNaN, +Inf, −Inf.
constexpr int kNaN = 0x81, kPosInf = 0x08, kNegInf = 0x10, kNonFinite = kNaN | kPosInf | kNegInf;

// Lanes [0, remaining) of a 16-element step (all 16 when remaining ≥ 16, none when ≤ 0).
TS_AVX512 __mmask16 lanes_in_range(int64_t remaining) {
  if (remaining >= 16) return 0xFFFF;
  if (remaining <= 0) return 0;
  return static_cast<__mmask16>((1u << remaining) - 1u);
}

// 16 elements from data[i] as floats (exact for all three kinds); lanes outside `valid` are 0.
template <Packed K>
TS_AVX512 __m512 load16(const void* data, int64_t i, __mmask16 valid) {
  if constexpr (K == Packed::Float32) {
    return _mm512_maskz_loadu_ps(valid, static_cast<const float*>(data) + i);
  } else {
    const __m256i bits = _mm256_maskz_loadu_epi16(valid, static_cast<const uint16_t*>(data) + i);
    if constexpr (K == Packed::Float16) {
      return _mm512_cvtph_ps(bits);
    } else {  // bf16 is the upper half of a float
      return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(bits), 16));
    }
  }
}

TS_AVX512 __m512d low_half_to_double(__m512 x) { return _mm512_cvtps_pd(_mm512_castps512_ps256(x)); }
TS_AVX512 __m512d high_half_to_double(__m512 x) {
  return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
}

template <Packed K>
TS_AVX512 void stats_run(const void* data, int64_t begin, int64_t end, hm::StatsPartial& out) {
  const __m512 zero = _mm512_setzero_ps();
  __m512d sum_lo = _mm512_setzero_pd(), sum_hi = sum_lo, squares_lo = sum_lo, squares_hi = sum_lo;
  __m512 min = _mm512_set1_ps(__builtin_inff()), max = _mm512_set1_ps(-__builtin_inff());
  unsigned long long finite = 0, nan = 0, pos_inf = 0, neg_inf = 0;
  for (int64_t i = begin; i < end; i += 16) {
    const __mmask16 valid = lanes_in_range(end - i);
    __m512 x = load16<K>(data, i, valid);
    const __mmask16 special = _mm512_mask_fpclass_ps_mask(valid, x, kNonFinite);
    if (special) {  // rare: count the kinds of non-finite values
      nan += __builtin_popcount(_mm512_mask_fpclass_ps_mask(valid, x, kNaN));
      pos_inf += __builtin_popcount(_mm512_mask_fpclass_ps_mask(valid, x, kPosInf));
      neg_inf += __builtin_popcount(_mm512_mask_fpclass_ps_mask(valid, x, kNegInf));
    }
    const __mmask16 ok = valid & static_cast<__mmask16>(~special);
    finite += __builtin_popcount(ok);
    x = _mm512_maskz_add_ps(ok, x, zero);  // −0 → +0 as in StatsPartial; others → 0
    min = _mm512_mask_min_ps(min, ok, min, x);
    max = _mm512_mask_max_ps(max, ok, max, x);
    const __m512d lo = low_half_to_double(x), hi = high_half_to_double(x);
    sum_lo = _mm512_add_pd(sum_lo, lo);
    sum_hi = _mm512_add_pd(sum_hi, hi);
    squares_lo = _mm512_fmadd_pd(lo, lo, squares_lo);
    squares_hi = _mm512_fmadd_pd(hi, hi, squares_hi);
  }
  hm::StatsPartial mine;
  mine.count = finite;
  mine.nan_count = nan;
  mine.pos_inf_count = pos_inf;
  mine.neg_inf_count = neg_inf;
  mine.sum = _mm512_reduce_add_pd(_mm512_add_pd(sum_lo, sum_hi));
  mine.sum_squares = _mm512_reduce_add_pd(_mm512_add_pd(squares_lo, squares_hi));
  mine.min = _mm512_reduce_min_ps(min);  // ±Inf when no finite value: the identities of the merge
  mine.max = _mm512_reduce_max_ps(max);
  out.absorb(mine);
}

// Counts one-hot 64-bit words per bit position: a Harley–Seal carry-save tree reduces 16 vectors
// of 8 words into planes of weight 1, 2, 4, 8 and a carry of weight 16, which ripples into eight
// more planes (weights 16..2048). Planes are added to the counts before they can overflow.
class BitPlaneCounter {
 public:
  TS_AVX512 BitPlaneCounter() {
    ones_ = twos_ = fours_ = eights_ = _mm512_setzero_si512();
    for (auto& p : sixteens_) p = _mm512_setzero_si512();
  }

  TS_AVX512 void add16(const __m512i* w, unsigned long long* counts) {
    __m512i twos_a, twos_b, fours_a, fours_b, eights_a, eights_b, carry;
    full_add(twos_a, ones_, ones_, w[0], w[1]);
    full_add(twos_b, ones_, ones_, w[2], w[3]);
    full_add(fours_a, twos_, twos_, twos_a, twos_b);
    full_add(twos_a, ones_, ones_, w[4], w[5]);
    full_add(twos_b, ones_, ones_, w[6], w[7]);
    full_add(fours_b, twos_, twos_, twos_a, twos_b);
    full_add(eights_a, fours_, fours_, fours_a, fours_b);
    full_add(twos_a, ones_, ones_, w[8], w[9]);
    full_add(twos_b, ones_, ones_, w[10], w[11]);
    full_add(fours_a, twos_, twos_, twos_a, twos_b);
    full_add(twos_a, ones_, ones_, w[12], w[13]);
    full_add(twos_b, ones_, ones_, w[14], w[15]);
    full_add(fours_b, twos_, twos_, twos_a, twos_b);
    full_add(eights_b, fours_, fours_, fours_a, fours_b);
    full_add(carry, eights_, eights_, eights_a, eights_b);
    for (auto& plane : sixteens_) {
      const __m512i next = _mm512_and_si512(plane, carry);
      plane = _mm512_xor_si512(plane, carry);
      carry = next;
    }
    if (++carries_ == kCarryCapacity) {
      for (int k = 0; k < kSixteenPlanes; ++k) {
        add_plane(sixteens_[k], 4 + k, counts);
        sixteens_[k] = _mm512_setzero_si512();
      }
      carries_ = 0;
    }
  }

  // Adds everything still held in the planes to counts[0..64).
  TS_AVX512 void flush(unsigned long long* counts) {
    add_plane(ones_, 0, counts);
    add_plane(twos_, 1, counts);
    add_plane(fours_, 2, counts);
    add_plane(eights_, 3, counts);
    for (int k = 0; k < kSixteenPlanes; ++k) add_plane(sixteens_[k], 4 + k, counts);
  }

 private:
  static constexpr int kSixteenPlanes = 8;
  static constexpr int kCarryCapacity = (1 << kSixteenPlanes) - 1;

  // (high, low) = a + b + c bitwise: majority and three-way xor, one instruction each.
  TS_AVX512 static void full_add(__m512i& high, __m512i& low, __m512i a, __m512i b, __m512i c) {
    high = _mm512_ternarylogic_epi64(a, b, c, 0xE8);
    low = _mm512_ternarylogic_epi64(a, b, c, 0x96);
  }

  // counts[bit] += (number of the 8 words with that bit set) << shift.
  TS_AVX512 static void add_plane(__m512i plane, int shift, unsigned long long* counts) {
    if (!_mm512_test_epi64_mask(plane, plane)) return;
    alignas(64) unsigned long long words[8];
    _mm512_store_si512(words, plane);
    __m512i per_bit = _mm512_setzero_si512();  // 64 bytes: how many words set each bit
    for (unsigned long long w : words) per_bit = _mm512_sub_epi8(per_bit, _mm512_movm_epi8(w));
    alignas(64) unsigned char bytes[64];
    _mm512_store_si512(bytes, per_bit);
    const __m128i count = _mm_cvtsi32_si128(shift);
    for (int g = 0; g < 8; ++g) {
      const __m512i add = _mm512_sll_epi64(
          _mm512_cvtepu8_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(bytes + 8 * g))), count);
      __m512i* dst = reinterpret_cast<__m512i*>(counts + 8 * g);
      _mm512_storeu_si512(dst, _mm512_add_epi64(_mm512_loadu_si512(dst), add));
    }
  }

  __m512i ones_, twos_, fours_, eights_;
  __m512i sixteens_[kSixteenPlanes];
  int carries_ = 0;
};

// The one-hot bin words of 16 elements (0 for non-finite and out-of-range lanes), and their
// (v − mean)² added to `centered`.
template <Packed K>
TS_AVX512 void one_hot16(const void* data, int64_t i, int64_t end, __m512d lo, __m512d scale, __m512d top,
                         __m512d mean, __m512d& centered, __m512i& word_lo, __m512i& word_hi) {
  const __mmask16 valid = lanes_in_range(end - i);
  const __m512 x = load16<K>(data, i, valid);
  const __mmask16 ok = valid & static_cast<__mmask16>(~_mm512_fpclass_ps_mask(x, kNonFinite));
  const __mmask8 ok_lo = static_cast<__mmask8>(ok), ok_hi = static_cast<__mmask8>(ok >> 8);
  const __m512d a = low_half_to_double(x), b = high_half_to_double(x);
  // bin_of: floor((v − lo) · scale) in [0, bins − 1], subtraction and product rounded separately.
  const __m512d zero = _mm512_setzero_pd();
  const __m512d xa = _mm512_min_pd(_mm512_max_pd(_mm512_mul_pd(_mm512_sub_pd(a, lo), scale), zero), top);
  const __m512d xb = _mm512_min_pd(_mm512_max_pd(_mm512_mul_pd(_mm512_sub_pd(b, lo), scale), zero), top);
  const __m512i one = _mm512_set1_epi64(1);
  word_lo = _mm512_maskz_sllv_epi64(ok_lo, one, _mm512_cvttpd_epi64(xa));
  word_hi = _mm512_maskz_sllv_epi64(ok_hi, one, _mm512_cvttpd_epi64(xb));
  const __m512d da = _mm512_maskz_sub_pd(ok_lo, a, mean), db = _mm512_maskz_sub_pd(ok_hi, b, mean);
  centered = _mm512_fmadd_pd(da, da, centered);
  centered = _mm512_fmadd_pd(db, db, centered);
}

template <Packed K>
TS_AVX512 void bins_run(const void* data, int64_t begin, int64_t end, const hm::BinRule& rule, double mean,
                        unsigned long long* counts, double& centered_squares) {
  const __m512d lo = _mm512_set1_pd(rule.lo), scale = _mm512_set1_pd(rule.scale);
  const __m512d top = _mm512_set1_pd(double(rule.bins - 1)), mean_v = _mm512_set1_pd(mean);
  __m512d centered = _mm512_setzero_pd();
  alignas(64) unsigned long long all_bits[64] = {};
  BitPlaneCounter counter;
  for (int64_t i = begin; i < end; i += 128) {  // 8 steps of 16 elements, 16 word vectors
    __m512i words[16];
    for (int k = 0; k < 8; ++k) {
      one_hot16<K>(data, i + 16 * k, end, lo, scale, top, mean_v, centered, words[2 * k], words[2 * k + 1]);
    }
    counter.add16(words, all_bits);
  }
  counter.flush(all_bits);
  for (int b = 0; b < rule.bins; ++b) counts[b] += all_bits[b];
  centered_squares += _mm512_reduce_add_pd(centered);
}

}  // namespace

bool available() {
  static const bool supported = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                                __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  return supported;
}

__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl")))
void accumulate_stats(Packed kind, const void* data, int64_t begin, int64_t end, hm::StatsPartial& stats) {
  switch (kind) {
    case Packed::Float32: stats_run<Packed::Float32>(data, begin, end, stats); break;
    case Packed::Float16: stats_run<Packed::Float16>(data, begin, end, stats); break;
    case Packed::BFloat16: stats_run<Packed::BFloat16>(data, begin, end, stats); break;
  }
}

__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl")))
void accumulate_bins(Packed kind, const void* data, int64_t begin, int64_t end, const hm::BinRule& rule,
                     double mean, unsigned long long* counts, double& centered_squares) {
  switch (kind) {
    case Packed::Float32: bins_run<Packed::Float32>(data, begin, end, rule, mean, counts, centered_squares); break;
    case Packed::Float16: bins_run<Packed::Float16>(data, begin, end, rule, mean, counts, centered_squares); break;
    case Packed::BFloat16: bins_run<Packed::BFloat16>(data, begin, end, rule, mean, counts, centered_squares); break;
  }
}

#else  // not x86-64 with GCC or Clang: the scalar visitors do all the work

bool available() { return false; }
void accumulate_stats(Packed, const void*, int64_t, int64_t, histogram_math::StatsPartial&) { std::abort(); }
void accumulate_bins(Packed, const void*, int64_t, int64_t, const histogram_math::BinRule&, double,
                     unsigned long long*, double&) {
  std::abort();
}

#endif

}  // namespace trainscope::detail::avx512
