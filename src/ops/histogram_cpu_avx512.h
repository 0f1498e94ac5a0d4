#pragma once
// AVX-512 kernels of the CPU histogram path for contiguous fp32, fp16 and bf16 runs. They give the
// same counts, minimum and maximum as the scalar visitors in histogram_cpu.cpp (the bin is the
// same double-precision sub-then-multiply of kernels/histogram_math.h, eight lanes at a time);
// sums differ only in the order of the additions.
//
// Why a hand-vectorised path: on a 2-core machine the scalar pass 2 spends ~3 ns per element on
// double conversion and read-modify-write increments, ten times the memory time. Here each element
// becomes a one-hot 64-bit word and the words are counted with a bit-sliced carry-save adder tree
// (Harley–Seal), so pass 2 costs about as much as pass 1 and the op runs near the read bandwidth.
#include <cstdint>

#include "histogram_math.h"  // kernels/

namespace trainscope::detail::avx512 {

enum class Packed { Float32, Float16, BFloat16 };

// Whether this CPU runs the kernels (AVX-512 F, DQ, BW and VL) and this build has them.
bool available();

// Pass 1 over elements [begin, end) of a contiguous run: absorbed into `stats`.
void accumulate_stats(Packed kind, const void* data, int64_t begin, int64_t end,
                      histogram_math::StatsPartial& stats);

// The largest bin count pass 2 handles (one bit of a 64-bit word per bin).
constexpr int kMaxBins = 64;

// Bytes that pass 1 will read soon: pass 2 is compute-bound, so it asks for them meanwhile.
struct Prefetch {
  const void* data = nullptr;
  int64_t bytes = 0;
};

// Pass 2 over [begin, end): adds each finite element to counts[bin] (rule.bins ≤ kMaxBins, rule
// not `wide`) and, unless centered_squares is null, (v − mean)² to *centered_squares, while
// prefetching `upcoming` into L2. all_finite: pass 1 found no NaN or ±Inf in the tensor (the
// kernel then skips the masking).
void accumulate_bins(Packed kind, const void* data, int64_t begin, int64_t end,
                     const histogram_math::BinRule& rule, double mean, bool all_finite, unsigned long long* counts,
                     double* centered_squares, Prefetch upcoming = {});

}  // namespace trainscope::detail::avx512
