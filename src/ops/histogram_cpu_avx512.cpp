#include "ops/histogram_cpu_avx512.h"

#include <cstdlib>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#if defined(__GNUC__) && !defined(__clang__)
// GCC's _mm512_reduce_* and _mm512_undefined_* initialise a vector from itself on purpose.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
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

// Lanes [0, remaining) of a 16-element step (all 16 when remaining ≥ 16).
TS_AVX512 __mmask16 lanes_in_range(int64_t remaining) {
  if (remaining >= 16) return 0xFFFF;
  return static_cast<__mmask16>((1u << remaining) - 1u);
}

// Asks for the cache lines kPrefetchDistance bytes past elements [i, i + N): the hardware
// prefetcher stops at page boundaries, and these runs are short (one chunk) and many.
constexpr int64_t kPrefetchDistance = 512;
template <Packed K, int N>
TS_AVX512 void prefetch_ahead(const void* data, int64_t i) {
  constexpr int64_t element_bytes = K == Packed::Float32 ? 4 : 2;
  const char* p = static_cast<const char*>(data) + i * element_bytes + kPrefetchDistance;
  for (int64_t line = 0; line < N * element_bytes; line += 64) _mm_prefetch(p + line, _MM_HINT_T0);
}

TS_AVX512 __m512d low_half_to_double(__m512 x) { return _mm512_cvtps_pd(_mm512_castps512_ps256(x)); }
TS_AVX512 __m512d high_half_to_double(__m512 x) {
  return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
}

// 16 elements from data[i], as floats (x) and as doubles (low: lanes 0-7, high: 8-15); exact for
// all three kinds. Full: all 16 lie in range; otherwise lanes outside `valid` read as 0.
template <Packed K, bool Full>
TS_AVX512 void load16(const void* data, int64_t i, __mmask16 valid, __m512& x, __m512d& low, __m512d& high) {
  if constexpr (K == Packed::Float32 && Full) {
    // Converting straight from memory saves the cross-lane extract of the upper half.
    const float* p = static_cast<const float*>(data) + i;
    x = _mm512_loadu_ps(p);
    low = _mm512_cvtps_pd(_mm256_loadu_ps(p));
    high = _mm512_cvtps_pd(_mm256_loadu_ps(p + 8));
    return;
  } else if constexpr (K == Packed::Float32) {
    x = _mm512_maskz_loadu_ps(valid, static_cast<const float*>(data) + i);
  } else {
    const uint16_t* p = static_cast<const uint16_t*>(data) + i;
    const __m256i bits =
        Full ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)) : _mm256_maskz_loadu_epi16(valid, p);
    if constexpr (K == Packed::Float16) {
      x = _mm512_cvtph_ps(bits);
    } else {  // bf16 is the upper half of a float
      x = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(bits), 16));
    }
  }
  low = low_half_to_double(x);
  high = high_half_to_double(x);
}

// Pass 1 of one run.
struct StatsLanes {
  __m512d sum_low, sum_high, squares_low, squares_high;
  __m512 min, max;
  unsigned long long finite = 0, nan = 0, pos_inf = 0, neg_inf = 0;

  TS_AVX512 StatsLanes() {
    sum_low = sum_high = squares_low = squares_high = _mm512_setzero_pd();
    min = _mm512_set1_ps(__builtin_inff());
    max = _mm512_set1_ps(-__builtin_inff());
  }

  template <Packed K, bool Full>
  TS_AVX512 void step(const void* data, int64_t i, __mmask16 valid) {
    __m512 x;
    __m512d low, high;
    load16<K, Full>(data, i, valid, x, low, high);
    const __mmask16 special = _mm512_mask_fpclass_ps_mask(valid, x, kNonFinite);
    if (Full && !special) {
      finite += 16;
    } else {  // the tail, or non-finite values (rare): count and drop them
      nan += __builtin_popcount(_mm512_mask_fpclass_ps_mask(valid, x, kNaN));
      pos_inf += __builtin_popcount(_mm512_mask_fpclass_ps_mask(valid, x, kPosInf));
      neg_inf += __builtin_popcount(_mm512_mask_fpclass_ps_mask(valid, x, kNegInf));
      const __mmask16 ok = valid & static_cast<__mmask16>(~special);
      finite += __builtin_popcount(ok);
      x = _mm512_maskz_mov_ps(ok, x);
      low = low_half_to_double(x);
      high = high_half_to_double(x);
      // Zeroed lanes must not reach the minimum and maximum.
      x = _mm512_mask_mov_ps(_mm512_set1_ps(__builtin_inff()), ok, x);
      min = _mm512_min_ps(min, x);
      x = _mm512_mask_mov_ps(_mm512_set1_ps(-__builtin_inff()), ok, x);
      max = _mm512_max_ps(max, x);
      accumulate(low, high);
      return;
    }
    min = _mm512_min_ps(min, x);
    max = _mm512_max_ps(max, x);
    accumulate(low, high);
  }

  // A full step that assumes all 16 values finite (see stats_run).
  template <Packed K>
  TS_AVX512 void finite_step(const void* data, int64_t i) {
    __m512 x;
    __m512d low, high;
    load16<K, true>(data, i, 0xFFFF, x, low, high);
    finite += 16;
    min = _mm512_min_ps(min, x);
    max = _mm512_max_ps(max, x);
    accumulate(low, high);
  }

  TS_AVX512 bool sums_finite() const {
    const __m512d all = _mm512_add_pd(_mm512_add_pd(sum_low, sum_high), _mm512_add_pd(squares_low, squares_high));
    const double total = _mm512_reduce_add_pd(all);
    return total - total == 0.0;  // false for ±Inf and NaN
  }

  TS_AVX512 void accumulate(__m512d low, __m512d high) {
    sum_low = _mm512_add_pd(sum_low, low);
    sum_high = _mm512_add_pd(sum_high, high);
    squares_low = _mm512_fmadd_pd(low, low, squares_low);
    squares_high = _mm512_fmadd_pd(high, high, squares_high);
  }

  TS_AVX512 void absorb_into(hm::StatsPartial& out) const {
    hm::StatsPartial mine;
    mine.count = finite;
    mine.nan_count = nan;
    mine.pos_inf_count = pos_inf;
    mine.neg_inf_count = neg_inf;
    mine.sum = _mm512_reduce_add_pd(_mm512_add_pd(sum_low, sum_high));
    mine.sum_squares = _mm512_reduce_add_pd(_mm512_add_pd(squares_low, squares_high));
    // ±Inf when no finite value: the identities of the merge. A zero extreme becomes +0, as
    // StatsPartial normalises every element (min/max of ±0 may return either sign).
    mine.min = double(_mm512_reduce_min_ps(min)) + 0.0;
    mine.max = double(_mm512_reduce_max_ps(max)) + 0.0;
    out.absorb(mine);
  }
};

template <Packed K>
TS_AVX512 void stats_run(const void* data, int64_t begin, int64_t end, hm::StatsPartial& out) {
  // First optimistically, as if every value were finite: no classification per step. The double
  // sums (which no fp32, fp16 or bf16 data can overflow) come out finite exactly when every value
  // was; otherwise the run is done again with the classifying steps (from cache).
  StatsLanes lanes;
  int64_t i = begin;
  for (; i + 64 <= end; i += 64) {
    prefetch_ahead<K, 64>(data, i);
    lanes.finite_step<K>(data, i);
    lanes.finite_step<K>(data, i + 16);
    lanes.finite_step<K>(data, i + 32);
    lanes.finite_step<K>(data, i + 48);
  }
  for (; i + 16 <= end; i += 16) lanes.finite_step<K>(data, i);
  if (i < end) lanes.step<K, false>(data, i, lanes_in_range(end - i));
  if (lanes.sums_finite()) {
    lanes.absorb_into(out);
    return;
  }
  StatsLanes careful;
  for (i = begin; i + 16 <= end; i += 16) careful.step<K, true>(data, i, 0xFFFF);
  if (i < end) careful.step<K, false>(data, i, lanes_in_range(end - i));
  careful.absorb_into(out);
}

// Counts one-hot 64-bit words per bit position. A Harley–Seal carry-save tree reduces 16 vectors
// of 8 words into planes of weight 1, 2, 4, 8 and a carry of weight 16; two such carries make one
// of weight 32 (one more adder), which ripples into eight planes of weight 32..4096. Planes are
// added to the counts before they can overflow.
class BitPlaneCounter {
 public:
  TS_AVX512 BitPlaneCounter() {
    ones_ = twos_ = fours_ = eights_ = sixteens_ = _mm512_setzero_si512();
    for (auto& p : high_) p = _mm512_setzero_si512();
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
    if (!have_sixteen_) {  // hold this carry until its partner arrives
      pending_sixteen_ = carry;
      have_sixteen_ = true;
      return;
    }
    have_sixteen_ = false;
    full_add(carry, sixteens_, sixteens_, pending_sixteen_, carry);
    for (auto& plane : high_) {
      const __m512i next = _mm512_and_si512(plane, carry);
      plane = _mm512_xor_si512(plane, carry);
      carry = next;
    }
    if (++carries_ == kCarryCapacity) {
      for (int k = 0; k < kHighPlanes; ++k) {
        add_plane(high_[k], 5 + k, counts);
        high_[k] = _mm512_setzero_si512();
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
    add_plane(sixteens_, 4, counts);
    if (have_sixteen_) add_plane(pending_sixteen_, 4, counts);
    for (int k = 0; k < kHighPlanes; ++k) add_plane(high_[k], 5 + k, counts);
  }

 private:
  static constexpr int kHighPlanes = 8;
  static constexpr int kCarryCapacity = (1 << kHighPlanes) - 1;

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

  __m512i ones_, twos_, fours_, eights_, sixteens_, pending_sixteen_;
  __m512i high_[kHighPlanes];
  bool have_sixteen_ = false;
  int carries_ = 0;
};

// Pass 2 of one run: the bin rule broadcast, and the (v − mean)² lanes.
struct BinLanes {
  __m512d lo, scale, mean, centered;
  __m512i last_bin;

  // The one-hot bin words of 16 elements. Finite: the run has no NaN or ±Inf (pass 1 counted
  // them), so no lane needs masking; Full: all 16 lanes are in range.
  template <Packed K, bool Finite, bool Centered, bool Full>
  TS_AVX512 void step(const void* data, int64_t i, __mmask16 valid, __m512i& word_low, __m512i& word_high) {
    __m512 x;
    __m512d a, b;
    load16<K, Full>(data, i, valid, x, a, b);
    // bin_of: floor((v − lo) · scale) in double, the subtraction and the product rounded
    // separately, as on the device. No lower clamp: v ≥ lo = min, so the product is ≥ +0.
    const __m512i raw_low = _mm512_cvttpd_epi64(_mm512_mul_pd(_mm512_sub_pd(a, lo), scale));
    const __m512i raw_high = _mm512_cvttpd_epi64(_mm512_mul_pd(_mm512_sub_pd(b, lo), scale));
    const __m512i one = _mm512_set1_epi64(1);
    __m512d da, db;
    if constexpr (Finite && Full) {
      // No upper clamp either: the product is below bins + 1, so an element of the last bin
      // (v at or within rounding of hi) sets bit `bins`, or no bit when bins is 64; bins_run
      // moves both to the last bin.
      word_low = _mm512_sllv_epi64(one, raw_low);
      word_high = _mm512_sllv_epi64(one, raw_high);
      da = _mm512_sub_pd(a, mean);
      db = _mm512_sub_pd(b, mean);
    } else {
      // Clamped to the last bin. A non-finite v gives a NaN or ±Inf product, which converts to
      // INT64_MIN: it stays below the clamp and shifts the bit out (it is masked off anyway).
      const __m512i bin_low = _mm512_min_epi64(raw_low, last_bin), bin_high = _mm512_min_epi64(raw_high, last_bin);
      const __mmask16 ok = valid & static_cast<__mmask16>(~_mm512_fpclass_ps_mask(x, kNonFinite));
      const __mmask8 ok_low = static_cast<__mmask8>(ok), ok_high = static_cast<__mmask8>(ok >> 8);
      word_low = _mm512_maskz_sllv_epi64(ok_low, one, bin_low);
      word_high = _mm512_maskz_sllv_epi64(ok_high, one, bin_high);
      da = _mm512_maskz_sub_pd(ok_low, a, mean);
      db = _mm512_maskz_sub_pd(ok_high, b, mean);
    }
    if constexpr (Centered) {
      centered = _mm512_fmadd_pd(da, da, centered);
      centered = _mm512_fmadd_pd(db, db, centered);
    }
  }
};

template <Packed K, bool Finite, bool Centered>
TS_AVX512 void bins_run(const void* data, int64_t begin, int64_t end, const hm::BinRule& rule, double mean,
                        unsigned long long* counts, double* centered_squares, Prefetch upcoming) {
  BinLanes lanes;
  lanes.lo = _mm512_set1_pd(rule.lo);
  lanes.scale = _mm512_set1_pd(rule.scale);
  lanes.mean = _mm512_set1_pd(mean);
  lanes.centered = _mm512_setzero_pd();
  lanes.last_bin = _mm512_set1_epi64(rule.bins - 1);
  const int64_t blocks = (end - begin + 127) / 128;  // 128 elements: 16 word vectors
  const char* prefetch = static_cast<const char*>(upcoming.data);
  const char* const prefetch_end = prefetch + upcoming.bytes;
  const int64_t lines_per_block = blocks > 0 ? (upcoming.bytes / 64 + blocks - 1) / blocks : 0;
  alignas(64) unsigned long long all_bits[64] = {};
  BitPlaneCounter counter;
  __m512i words[16];
  int64_t i = begin;
  for (; i + 128 <= end; i += 128) {
    prefetch_ahead<K, 128>(data, i);
    for (int k = 0; k < 8; ++k) {
      lanes.step<K, Finite, Centered, true>(data, i + 16 * k, 0xFFFF, words[2 * k], words[2 * k + 1]);
    }
    counter.add16(words, all_bits);
    for (int64_t l = 0; l < lines_per_block && prefetch < prefetch_end; ++l, prefetch += 64) {
      _mm_prefetch(prefetch, _MM_HINT_T1);
    }
  }
  if (i < end) {  // the last partial block: masked steps, zero words past the end
    for (int k = 0; k < 8; ++k) {
      const int64_t at = i + 16 * k;
      if (at < end) {
        lanes.step<K, false, Centered, false>(data, at, lanes_in_range(end - at), words[2 * k], words[2 * k + 1]);
      } else {
        words[2 * k] = words[2 * k + 1] = _mm512_setzero_si512();
      }
    }
    counter.add16(words, all_bits);
  }
  counter.flush(all_bits);
  const int last = rule.bins - 1;
  for (int b = 0; b < last; ++b) counts[b] += all_bits[b];
  unsigned long long last_bin_count = 0;
  for (int b = last; b < kMaxBins; ++b) last_bin_count += all_bits[b];
  if constexpr (Finite) {
    // Every element is finite and was counted once, except those of the last bin when bins is 64
    // (their bit fell off the word).
    unsigned long long counted = 0;
    for (int b = 0; b < kMaxBins; ++b) counted += all_bits[b];
    last_bin_count += static_cast<unsigned long long>(end - begin) - counted;
  }
  counts[last] += last_bin_count;
  if constexpr (Centered) *centered_squares += _mm512_reduce_add_pd(lanes.centered);
}

template <bool Finite, bool Centered>
TS_AVX512 void bins_dispatch(Packed kind, const void* data, int64_t begin, int64_t end, const hm::BinRule& rule,
                             double mean, unsigned long long* counts, double* centered_squares, Prefetch upcoming) {
  switch (kind) {
    case Packed::Float32:
      bins_run<Packed::Float32, Finite, Centered>(data, begin, end, rule, mean, counts, centered_squares, upcoming);
      break;
    case Packed::Float16:
      bins_run<Packed::Float16, Finite, Centered>(data, begin, end, rule, mean, counts, centered_squares, upcoming);
      break;
    case Packed::BFloat16:
      bins_run<Packed::BFloat16, Finite, Centered>(data, begin, end, rule, mean, counts, centered_squares, upcoming);
      break;
  }
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
                     double mean, bool all_finite, unsigned long long* counts, double* centered_squares,
                     Prefetch upcoming) {
  const bool centered = centered_squares != nullptr;
  if (all_finite && centered) {
    bins_dispatch<true, true>(kind, data, begin, end, rule, mean, counts, centered_squares, upcoming);
  } else if (all_finite) {
    bins_dispatch<true, false>(kind, data, begin, end, rule, mean, counts, centered_squares, upcoming);
  } else if (centered) {
    bins_dispatch<false, true>(kind, data, begin, end, rule, mean, counts, centered_squares, upcoming);
  } else {
    bins_dispatch<false, false>(kind, data, begin, end, rule, mean, counts, centered_squares, upcoming);
  }
}

#else  // not x86-64 with GCC or Clang: the scalar visitors do all the work

bool available() { return false; }
void accumulate_stats(Packed, const void*, int64_t, int64_t, histogram_math::StatsPartial&) { std::abort(); }
void accumulate_bins(Packed, const void*, int64_t, int64_t, const histogram_math::BinRule&, double, bool,
                     unsigned long long*, double*, Prefetch) {
  std::abort();
}

#endif

}  // namespace trainscope::detail::avx512
