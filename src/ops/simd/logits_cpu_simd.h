#pragma once
// Vector paths of the CPU labels_from_logits and fused segmentation (docs/ops.md, "CPU vector
// paths"). The scalar code in ops/labels.cpp and ops/segmentation.cpp stays the reference; these
// give the same labels and classes exactly and confidences within the bound documented there.
//
// Which path runs is chosen per call: the best ISA this CPU and build have, capped by
// TRAINSCOPE_CPU_ISA=scalar|avx2|avx512 (TRAINSCOPE_CPU_SIMD=0 also means scalar). The variable is
// read on every call so that tests can run every path in one process.
#include <cstdint>

namespace trainscope::detail::logits_simd {

enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2 };
enum class Packed { Float32, Float16, BFloat16 };

// Whether this CPU runs the `isa` kernels (AVX2: AVX2 + FMA + F16C; AVX-512: F, BW, DQ, VL) and
// this build has them. Scalar is always supported.
bool supported(Isa isa);
// The path the next call takes: the best supported ISA at or below TRAINSCOPE_CPU_ISA's.
Isa active_isa();
const char* isa_name(Isa isa);

// Labels and confidences of rows [begin, end) of an [N, C] matrix (C ≥ 2) with unit stride along
// C; row r starts at element r·row_stride of `data`. confidence may be null. A row whose softmax is
// not finite (a NaN, a +Inf, or only −Inf) gets labels[r] = −1 and is left for the scalar path.
// isa must be Avx2 or Avx512 and supported.
void label_rows(Isa isa, Packed kind, const void* data, int64_t row_stride, int classes, int64_t begin,
                int64_t end, int64_t* labels, float* confidence);

// Per-pixel argmax over `classes` channels of `count` consecutive pixels: pixel i of channel c is
// element c·channel_stride + i of `data`; its class goes to out[i]. Same order as
// kernels/logit_math.h (first NaN, else the largest, ties to the lower class).
void argmax_channels(Isa isa, Packed kind, const void* data, int64_t channel_stride, int classes, int64_t count,
                     int32_t* out);

// The per-ISA entry points behind the two functions above (logits_cpu_avx2.cpp,
// logits_cpu_avx512.cpp); they abort when the build has no such kernels.
namespace avx2 {
bool built();
void label_rows(Packed, const void*, int64_t, int, int64_t, int64_t, int64_t*, float*);
void argmax_channels(Packed, const void*, int64_t, int, int64_t, int32_t*);
}  // namespace avx2
namespace avx512 {
bool built();
void label_rows(Packed, const void*, int64_t, int, int64_t, int64_t, int64_t*, float*);
void argmax_channels(Packed, const void*, int64_t, int, int64_t, int32_t*);
}  // namespace avx512

}  // namespace trainscope::detail::logits_simd
