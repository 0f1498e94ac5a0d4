#pragma once
// The vector kernels of logits_cpu_simd.h, written once against an ISA traits type V and
// instantiated by logits_cpu_avx2.cpp and logits_cpu_avx512.cpp. Include only inside an anonymous
// namespace of such a file, after defining TS_SIMD (the target attribute + always_inline) and
// TS_SIMD_ENTRY (the target attribute, for the entry points the macro at the end defines): every
// function here then has internal linkage and that file's ISA, so no wide-ISA copy of an inline
// function can be chosen by the linker for baseline code.
//
// V provides: kWidth; F (float lanes), D (a double accumulator of F's lanes), I (int32 lanes);
// load<K>(p, i) (kWidth elements from element i), load_partial<K>(p, i, n) (n < kWidth, the
// other lanes −Inf), set1, zero, max (a NaN in the first operand yields the second), sub, add,
// exp, hmax, eq_mask (bit j: lane j equal), widen_add, hsum, set1_int, zero_int, update (the
// argmax step), store_int; for few-class rows lane_offsets, gather, finite_mask, store_labels
// (int32 → int64) and store_inverse (1 / sum, as float).
//
// labels: two passes over the row (in L1 for the second, as the scalar path). Pass 1 is only a
// maximum that skips NaNs. Pass 2 sums exp(v − max) and finds the first v == max, the label: the
// max is finite, so that is the first index of the largest value, and a NaN anywhere in the row
// turns the sum into NaN, which hands the row back to the scalar path (so do a non-finite max).
// Exponentials are summed in float over at most kFloatRun vectors per lane, then in double: the
// error bound of docs/ops.md.

// Few classes (fp32, C ≤ kAcrossMaxClasses): one row per lane instead, W rows at a time, each
// column gathered once and kept in registers; argmax by the update step of the segmentation path
// (its best is NaN exactly for rows with a NaN), then the same float-then-double sum. Rows whose
// best is not finite get −1 for the scalar path. Returns the first row not done (< W remain).
constexpr int kAcrossMaxClasses = 16;
template <class V>
TS_SIMD int64_t label_rows_across(const float* data, int64_t row_stride, int classes, int64_t begin, int64_t end,
                                  int64_t* labels, float* confidence) {
  using F = typename V::F;
  using I = typename V::I;
  using D = typename V::D;
  constexpr int W = V::kWidth;
  const I offsets = V::lane_offsets(static_cast<int>(row_stride));
  F x[kAcrossMaxClasses];
  int64_t r = begin;
  for (; r + W <= end; r += W) {
    const float* base = data + r * row_stride;
    x[0] = V::gather(base, offsets);
    F best = x[0];
    I index = V::zero_int();
    for (int c = 1; c < classes; ++c) {
      x[c] = V::gather(base + c, offsets);
      V::update(best, index, x[c], V::set1_int(c));
    }
    D acc = V::zero_double();
    for (int c0 = 0; c0 < classes; c0 += 8) {
      F s = V::zero();
      const int c1 = c0 + 8 < classes ? c0 + 8 : classes;
      for (int c = c0; c < c1; ++c) s = V::add(s, V::exp(V::sub(x[c], best)));
      acc = V::widen_add(acc, s);
    }
    V::store_labels(labels + r, index);
    if (confidence) V::store_inverse(confidence + r, acc);
    for (unsigned bad = ~V::finite_mask(best) & ((1u << W) - 1u); bad; bad &= bad - 1) {
      labels[r + __builtin_ctz(bad)] = -1;
    }
  }
  return r;
}

template <class V, detail::logits_simd::Packed K>
TS_SIMD void label_rows_impl(const void* data, int64_t row_stride, int classes, int64_t begin, int64_t end,
                             int64_t* labels, float* confidence) {
  using F = typename V::F;
  using D = typename V::D;
  constexpr int W = V::kWidth;
  constexpr int kFloatRun = 8;  // float terms per lane before the partial sum goes to double
  // 64-bit positions: c + 4·W must not overflow for C close to 2^31.
  const int64_t full = classes - classes % W;
  const int tail = static_cast<int>(classes - full);
  const F neg_inf = V::set1(-std::numeric_limits<float>::infinity());
  if constexpr (K == detail::logits_simd::Packed::Float32) {
    // 32-bit gather offsets: (W − 1)·row_stride + C must fit.
    if (classes <= kAcrossMaxClasses && row_stride >= 0 &&
        (W - 1) * row_stride + classes <= std::numeric_limits<int32_t>::max()) {
      begin = label_rows_across<V>(static_cast<const float*>(data), row_stride, classes, begin, end, labels,
                                   confidence);
    }
  }
  for (int64_t r = begin; r < end; ++r) {
    const int64_t row = r * row_stride;
    F m0 = neg_inf, m1 = neg_inf, m2 = neg_inf, m3 = neg_inf;
    int64_t c = 0;
    for (; c + 4 * W <= full; c += 4 * W) {
      m0 = V::max(V::template load<K>(data, row + c), m0);
      m1 = V::max(V::template load<K>(data, row + c + W), m1);
      m2 = V::max(V::template load<K>(data, row + c + 2 * W), m2);
      m3 = V::max(V::template load<K>(data, row + c + 3 * W), m3);
    }
    for (; c < full; c += W) m0 = V::max(V::template load<K>(data, row + c), m0);
    if (tail) m1 = V::max(V::template load_partial<K>(data, row + full, tail), m1);
    const float max = V::hmax(V::max(V::max(m0, m1), V::max(m2, m3)));
    if (!(max > -std::numeric_limits<float>::infinity() && max < std::numeric_limits<float>::infinity())) {
      labels[r] = -1;  // only NaN / −Inf, or a +Inf: the scalar path's rules
      continue;
    }
    const F vmax = V::set1(max);
    int64_t found = -1;
    D acc = V::zero_double();
    c = 0;
    while (c < full) {
      F s = V::zero();
      for (int j = 0; j < kFloatRun && c < full; ++j, c += W) {
        const F x = V::template load<K>(data, row + c);
        if (found < 0) {
          const unsigned eq = V::eq_mask(x, vmax);
          if (eq) found = c + __builtin_ctz(eq);
        }
        s = V::add(s, V::exp(V::sub(x, vmax)));
      }
      acc = V::widen_add(acc, s);
    }
    if (tail) {
      const F x = V::template load_partial<K>(data, row + full, tail);  // −Inf lanes add exp(−Inf) = 0
      if (found < 0) {
        const unsigned eq = V::eq_mask(x, vmax);
        if (eq) found = full + __builtin_ctz(eq);
      }
      acc = V::widen_add(acc, V::exp(V::sub(x, vmax)));
    }
    const double sum = V::hsum(acc);
    if (!(sum == sum) || found < 0) {  // a NaN in the row
      labels[r] = -1;
      continue;
    }
    labels[r] = found;
    if (confidence) confidence[r] = static_cast<float>(1.0 / sum);
  }
}

template <detail::logits_simd::Packed K>
inline float scalar_load(const void* data, int64_t i) {
  using detail::logits_simd::Packed;
  if constexpr (K == Packed::Float32) {
    return static_cast<const float*>(data)[i];
  } else if constexpr (K == Packed::Float16) {
    return detail::float16_to_float(static_cast<const uint16_t*>(data)[i]);
  } else {
    return detail::bfloat16_to_float(static_cast<const uint16_t*>(data)[i]);
  }
}

// U vectors of pixels starting at pixel i, all channels: registers hold the running best.
template <class V, detail::logits_simd::Packed K, int U>
TS_SIMD void argmax_block(const void* data, int64_t channel_stride, int classes, int64_t i, int32_t* out) {
  using F = typename V::F;
  using I = typename V::I;
  constexpr int W = V::kWidth;
  F best[U];
  I index[U];
#pragma GCC unroll 8
  for (int u = 0; u < U; ++u) {
    best[u] = V::template load<K>(data, i + u * W);
    index[u] = V::zero_int();
  }
  for (int c = 1; c < classes; ++c) {
    const int64_t at = int64_t(c) * channel_stride + i;
    const I cv = V::set1_int(c);
#pragma GCC unroll 8
    for (int u = 0; u < U; ++u) V::update(best[u], index[u], V::template load<K>(data, at + u * W), cv);
  }
#pragma GCC unroll 8
  for (int u = 0; u < U; ++u) V::store_int(out + i + u * W, index[u]);
}

template <class V, detail::logits_simd::Packed K>
TS_SIMD void argmax_channels_impl(const void* data, int64_t channel_stride, int classes, int64_t count,
                                  int32_t* out) {
  constexpr int W = V::kWidth, U = V::kBlock;
  int64_t i = 0;
  for (; i + U * W <= count; i += U * W) argmax_block<V, K, U>(data, channel_stride, classes, i, out);
  for (; i + W <= count; i += W) argmax_block<V, K, 1>(data, channel_stride, classes, i, out);
  if (i == count) return;
  if (count >= W) {  // the last vector again, overlapping: the same classes come out
    argmax_block<V, K, 1>(data, channel_stride, classes, count - W, out);
    return;
  }
  for (; i < count; ++i) {  // fewer pixels than lanes
    kernels::ArgmaxState best;
    best.reset();
    for (int c = 0; c < classes; ++c) best.add(scalar_load<K>(data, int64_t(c) * channel_stride + i), c);
    out[i] = best.index;
  }
}

// The exported entry points of one ISA file.
#define TS_DEFINE_LOGITS_ENTRY_POINTS(V)                                                                  \
  TS_SIMD_ENTRY void label_rows(Packed kind, const void* data, int64_t row_stride, int classes,          \
                                int64_t begin, int64_t end, int64_t* labels, float* confidence) {    \
    switch (kind) {                                                                                       \
      case Packed::Float32:                                                                               \
        label_rows_impl<V, Packed::Float32>(data, row_stride, classes, begin, end, labels, confidence);   \
        break;                                                                                            \
      case Packed::Float16:                                                                               \
        label_rows_impl<V, Packed::Float16>(data, row_stride, classes, begin, end, labels, confidence);   \
        break;                                                                                            \
      case Packed::BFloat16:                                                                              \
        label_rows_impl<V, Packed::BFloat16>(data, row_stride, classes, begin, end, labels, confidence);  \
        break;                                                                                            \
    }                                                                                                     \
  }                                                                                                       \
  TS_SIMD_ENTRY void argmax_channels(Packed kind, const void* data, int64_t channel_stride, int classes,  \
                                     int64_t count, int32_t* out) {                                      \
    switch (kind) {                                                                                       \
      case Packed::Float32:                                                                               \
        argmax_channels_impl<V, Packed::Float32>(data, channel_stride, classes, count, out);              \
        break;                                                                                            \
      case Packed::Float16:                                                                               \
        argmax_channels_impl<V, Packed::Float16>(data, channel_stride, classes, count, out);              \
        break;                                                                                            \
      case Packed::BFloat16:                                                                              \
        argmax_channels_impl<V, Packed::BFloat16>(data, channel_stride, classes, count, out);             \
        break;                                                                                            \
    }                                                                                                     \
  }
