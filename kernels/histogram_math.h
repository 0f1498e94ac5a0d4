#pragma once
// The per-element arithmetic of the histogram op, shared verbatim by the CPU path (src/ops) and
// the CUDA kernels, so both produce identical counts: element → double conversion, the bin rule,
// the order-preserving keys that let min/max be merged with integer atomics, and the workspace
// records both paths fill. Plain C++ that nvcc also compiles for the device.
#include <cstdint>
#include <cstring>

#ifdef __CUDACC__
#define TS_HD __host__ __device__ __forceinline__
#else
#define TS_HD inline __attribute__((always_inline))
#endif

namespace trainscope::histogram_math {

TS_HD double double_from_bits(uint64_t u) {
  double v;
  memcpy(&v, &u, sizeof v);
  return v;
}

// Multiply and subtract, rounded separately: never fused into an FMA on either side, so the
// device rounds exactly as the host does.
TS_HD double mul_rn(double a, double b) {
#ifdef __CUDA_ARCH__
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
TS_HD double sub_rn(double a, double b) {
#ifdef __CUDA_ARCH__
  return __dsub_rn(a, b);
#else
  return a - b;
#endif
}

// fp16 bits → double, exactly (every half is representable in double).
TS_HD double half_bits_to_double(uint16_t h) {
  const uint32_t sign = (h >> 15) & 1u, exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  double magnitude;
  if (exponent == 0x1f) {
    magnitude = double_from_bits(mantissa ? 0x7ff8000000000000ull : 0x7ff0000000000000ull);
  } else if (exponent == 0) {
    magnitude = double(mantissa) * (1.0 / 16777216.0);  // subnormal: m · 2^-24
  } else {
    // (1024 + m) · 2^(e − 25), built as a float bit pattern (exact, no library call).
    const uint32_t bits = ((exponent - 15u + 127u) << 23) | (mantissa << 13);
    float f;
    memcpy(&f, &bits, sizeof f);
    magnitude = f;
  }
  return sign ? -magnitude : magnitude;
}

// bf16 bits → double, exactly (bf16 is the top half of a float).
TS_HD double bfloat16_bits_to_double(uint16_t b) {
  const uint32_t bits = uint32_t(b) << 16;
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

// An unsigned key with key(a) < key(b) ⇔ a < b for non-NaN doubles (−0 and +0 differ; callers
// normalise −0 to +0 first). Zero is below every key, so a zeroed workspace is the identity of
// a max-merge: the maximum is merged as key(v), the minimum as ~key(v).
TS_HD uint64_t order_key(double v) {
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  return (u >> 63) ? ~u : (u | 0x8000000000000000ull);
}
TS_HD double from_order_key(uint64_t k) {
  return double_from_bits((k >> 63) ? (k & 0x7fffffffffffffffull) : ~k);
}

// Classification of one converted element.
TS_HD bool is_nan(double v) { return v != v; }
TS_HD bool is_finite(double v) { return v - v == 0.0; }  // false for ±Inf and NaN

TS_HD double div_rn(double a, double b) {
#ifdef __CUDA_ARCH__
  return __ddiv_rn(a, b);
#else
  return a / b;
#endif
}

// How values map to bins for one tensor: bin(v) = floor((v − lo) · scale), clamped to
// [0, bins − 1], with scale = bins / (hi − lo), all in double. Only float64 data can make that
// degenerate; then the bin is ((v·f − lo·f) / ((hi − lo)·f)) · bins instead (the "wide" rule),
// which stays monotonic and exact at the edges:
//  - hi − lo overflows, or bins / (hi − lo) is subnormal and loses precision: f = 1/2;
//  - bins / (hi − lo) overflows to +Inf (a span of subnormals, e.g. [0, 1e-310]): f = 1, so the
//    bin is ((v − lo) / (hi − lo)) · bins — the subtraction of subnormals is exact, and without
//    this every value above lo would land in the last bin.
struct BinRule {
  double lo = 0, scale = 0;  // scale: bins / (hi − lo), or the scaled width in the wide case
  int bins = 1;
  bool wide = false;
  double factor = 0.5;  // f of the wide rule (lo is stored as lo·f)
};

TS_HD BinRule make_bin_rule(double lo, double hi, int bins) {
  BinRule r;
  r.lo = lo;
  r.bins = bins;
  if (!(hi > lo)) {  // one value: everything in bin 0 (the op reports a single bin)
    r.scale = 0;
    r.bins = 1;
    return r;
  }
  const double width = sub_rn(hi, lo);
  const double scale = div_rn(double(bins), width);
  if (is_finite(width) && is_finite(scale) && scale >= 2.2250738585072014e-308) {  // DBL_MIN: a normal scale
    r.scale = scale;
  } else {
    r.wide = true;
    r.factor = is_finite(width) && !is_finite(scale) ? 1.0 : 0.5;
    r.lo = mul_rn(lo, r.factor);
    r.scale = sub_rn(mul_rn(hi, r.factor), r.lo);
  }
  return r;
}

TS_HD int bin_of(const BinRule& r, double v) {
  const double x = r.wide ? mul_rn(div_rn(sub_rn(mul_rn(v, r.factor), r.lo), r.scale), double(r.bins))
                          : mul_rn(sub_rn(v, r.lo), r.scale);
  if (!(x > 0.0)) return 0;  // v == lo (and the one-bin case)
  if (x >= double(r.bins)) return r.bins - 1;
  return int(x);  // x ≥ 0: truncation is floor
}

// A float shortcut of bin_of for tensors whose values are all floats (float32, float16,
// bfloat16 data): the bin from float arithmetic, or −1 when the float result lies within
// kFastBinMargin of a bin edge (or outside (0, bins)), in which case bin_of decides. When it
// returns a bin, that bin equals bin_of(r, v) exactly. Proof (docs/ops.md#the-float-shortcut-of-the-bin-rule):
//  - enabled only for the normal rule (not wide) with lo a float and scale S in float's normal
//    range, so lo_f = lo exactly and scale_f = S(1 + e3), |e3| ≤ u = 2^-24;
//  - let D = v − lo exactly. bin_of computes x = fl64(fl64(D)·S) = D·S(1 + e2)(1 + e5), |e2|, |e5| ≤ 2^-53;
//  - the shortcut computes d_f = fl32(v − lo_f) = D(1 + e1) (exact when subnormal; an overflow
//    gives Inf and −1) and x_f = fl32(d_f·scale_f) = d_f·scale_f(1 + e4) when x_f is normal
//    (a subnormal x_f is below the margin and gives −1), |e1|, |e4| ≤ u. So
//    x_f / x = (1 + e1)(1 + e3)(1 + e4) / ((1 + e2)(1 + e5)) and |x_f − x| ≤ 3.0001·u·|x| < 2^-22·|x|;
//  - a bin is returned only when 0 < x_f < bins ≤ 512 = 2^9, so |x| < 2^9.0001 and
//    |x_f − x| < 2^-12.9 < kFastBinMargin = 2^-12;
//  - it is returned only when x_f ∈ (k + margin, k + 1 − margin) for k = trunc(x_f) ∈ [0, bins − 1]
//    (x_f − k is exact: Sterbenz, or k = 0). Then x ∈ (k, k + 1) ⊂ (0, bins): bin_of neither
//    clamps nor takes bin 0 by its first test, and floor(x) = k.
// Multiply and subtract are explicitly rounded (no FMA) so the bound holds on both devices.
constexpr float kFastBinMargin = 1.0f / 4096.0f;  // 2^-12

struct FastBinRule {
  float lo = 0, scale = 0;
  float bins = 0;  // 0: disabled, every element gives −1
};

TS_HD float fmul_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
TS_HD float fsub_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}

TS_HD FastBinRule make_fast_bin_rule(const BinRule& r) {
  FastBinRule f;
  const float lo = float(r.lo);
  const bool lo_is_float = double(lo) == r.lo;  // false for NaN-free doubles outside float
  // [FLT_MIN, 2^127]: scale_f is a normal float (rounding cannot reach FLT_MAX's overflow).
  const bool scale_in_range = r.scale >= 1.1754943508222875e-38 && r.scale <= 1.7014118346046923e38;
  if (!r.wide && r.bins >= 2 && r.bins <= 512 && lo_is_float && scale_in_range) {
    f.lo = lo;
    f.scale = float(r.scale);
    f.bins = float(r.bins);
  }
  return f;
}

// The bin of v, or −1: then bin_of(r, double(v)) decides (v near a bin edge or outside (lo, hi),
// the shortcut disabled). A NaN or ±Inf v always gives −1 (x is NaN or infinite).
TS_HD int fast_bin_of(const FastBinRule& f, float v) {
  const float x = fmul_rn(fsub_rn(v, f.lo), f.scale);
#ifdef __CUDA_ARCH__
  const float k = truncf(x);
#else
  const float k = __builtin_truncf(x);
#endif
  const float frac = x - k;  // exact
  const bool clear = x > 0.0f && x < f.bins && frac > kFastBinMargin && frac < 1.0f - kFastBinMargin;
  return clear ? int(k) : -1;
}

// Pass 1 of one worker (a CUDA thread, a CPU task) for one tensor, merged into the tensor's
// accumulators; one definition so both devices count, sum and order values alike.
struct StatsPartial {
  unsigned long long count, nan_count, pos_inf_count, neg_inf_count;
  double sum, sum_squares, min, max;

  TS_HD void reset() {
    count = nan_count = pos_inf_count = neg_inf_count = 0;
    sum = sum_squares = 0;
    min = double_from_bits(0x7ff0000000000000ull);  // +Inf
    max = double_from_bits(0xfff0000000000000ull);  // −Inf
  }
  TS_HD void operator()(double v) {
    if (is_finite(v)) {
      v += 0.0;  // −0 → +0: min and max never depend on the order zeros of both signs arrive in
      ++count;
      sum += v;
      sum_squares += v * v;
      min = v < min ? v : min;
      max = v > max ? v : max;
    } else if (is_nan(v)) {
      ++nan_count;
    } else if (v > 0) {
      ++pos_inf_count;
    } else {
      ++neg_inf_count;
    }
  }
  TS_HD void absorb(const StatsPartial& o) {
    count += o.count;
    nan_count += o.nan_count;
    pos_inf_count += o.pos_inf_count;
    neg_inf_count += o.neg_inf_count;
    sum += o.sum;
    sum_squares += o.sum_squares;
    min = o.min < min ? o.min : min;
    max = o.max > max ? o.max : max;
  }
};

// Per-tensor accumulators, laid out identically in the CUDA workspace and the pinned result
// buffer (the device copies them to the host as they are) and filled the same way on the CPU.
struct TensorAccumulators {
  unsigned long long count;     // finite values
  unsigned long long nan_count;
  unsigned long long pos_inf_count;
  unsigned long long neg_inf_count;
  unsigned long long min_key;   // ~order_key(min): merged with max
  unsigned long long max_key;   // order_key(max)
  double sum;
  double sum_squares;
  double centered_squares;      // Σ (v − mean)², pass 2: a std without cancellation
  double reserved;              // pads the record to a multiple of 16 bytes
};
static_assert(sizeof(TensorAccumulators) == 80, "record layout is shared with the device");

// A run of elements [begin, end) of one tensor: the unit of work of a CUDA block or a CPU task.
// Chunks are ordered by tensor, so a worker that takes a contiguous range of chunks merges its
// partial results once per tensor it touches, however many tensors the list holds.
struct HistogramChunk {
  int64_t begin, end;
  int32_t tensor, unused;
};
// A multiple of 16 elements, so every chunk of 16-byte-aligned data starts 16-byte aligned.
constexpr int64_t kHistogramChunkElements = 16384;

}  // namespace trainscope::histogram_math
