#include "ops/simd/logits_cpu_simd.h"

#include <cstdlib>
#include <cstring>

namespace trainscope::detail::logits_simd {
namespace {

bool cpu_has(Isa isa) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  // __builtin_cpu_supports also checks that the OS saves the wider registers (XCR0).
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                           __builtin_cpu_supports("f16c");
  static const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  switch (isa) {
    case Isa::Scalar: return true;
    case Isa::Avx2: return avx2;
    case Isa::Avx512: return avx512;
  }
  return false;
#else
  return isa == Isa::Scalar;
#endif
}

// The cap TRAINSCOPE_CPU_ISA (or TRAINSCOPE_CPU_SIMD=0) puts on the choice; unset or unknown: none.
Isa requested_cap() {
  if (const char* simd = std::getenv("TRAINSCOPE_CPU_SIMD"); simd && std::strcmp(simd, "0") == 0) return Isa::Scalar;
  const char* env = std::getenv("TRAINSCOPE_CPU_ISA");
  if (!env) return Isa::Avx512;
  if (std::strcmp(env, "scalar") == 0) return Isa::Scalar;
  if (std::strcmp(env, "avx2") == 0) return Isa::Avx2;
  return Isa::Avx512;
}

}  // namespace

bool supported(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return true;
    case Isa::Avx2: return avx2::built() && cpu_has(Isa::Avx2);
    case Isa::Avx512: return avx512::built() && cpu_has(Isa::Avx512);
  }
  return false;
}

Isa active_isa() {
  const Isa cap = requested_cap();
  if (cap >= Isa::Avx512 && supported(Isa::Avx512)) return Isa::Avx512;
  if (cap >= Isa::Avx2 && supported(Isa::Avx2)) return Isa::Avx2;
  return Isa::Scalar;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "?";
}

void label_rows(Isa isa, Packed kind, const void* data, int64_t row_stride, int classes, int64_t begin,
                int64_t end, int64_t* labels, float* confidence) {
  if (isa == Isa::Avx512) {
    avx512::label_rows(kind, data, row_stride, classes, begin, end, labels, confidence);
  } else if (isa == Isa::Avx2) {
    avx2::label_rows(kind, data, row_stride, classes, begin, end, labels, confidence);
  } else {
    std::abort();
  }
}

void argmax_channels(Isa isa, Packed kind, const void* data, int64_t channel_stride, int classes, int64_t count,
                     int32_t* out) {
  if (isa == Isa::Avx512) {
    avx512::argmax_channels(kind, data, channel_stride, classes, count, out);
  } else if (isa == Isa::Avx2) {
    avx2::argmax_channels(kind, data, channel_stride, classes, count, out);
  } else {
    std::abort();
  }
}

}  // namespace trainscope::detail::logits_simd
