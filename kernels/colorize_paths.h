#pragma once
// Which memory paths the mask → RGB kernel takes for a given mask and output (plain C++, so the
// choice is unit-tested on the CPU). Views into larger buffers may start anywhere: `rgb_batch[i]`
// of an [N, H, W, 3] batch starts at i·H·W·3 bytes, which is not 4-byte aligned when H·W·3 is not
// a multiple of 4, and a 32-bit store there is a misaligned-address fault that kills the context.
#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace trainscope::kernels {

constexpr int kMaskPixelsPerThread = 4;  // 4 pixels = 12 output bytes = three 32-bit words

struct MaskToRgbPaths {
  bool vector_loads = false;  // the 4 ids of a group in one load (16 bytes at most)
  bool word_stores = false;   // the 12 bytes of a group as three 32-bit stores
};

inline MaskToRgbPaths mask_to_rgb_paths(const void* mask, std::size_t id_bytes, const void* rgb) {
  const std::size_t group_bytes = std::min<std::size_t>(16, kMaskPixelsPerThread * id_bytes);
  MaskToRgbPaths p;
  p.vector_loads = reinterpret_cast<std::uintptr_t>(mask) % group_bytes == 0;
  // Group g starts 12·g bytes after rgb: every group is word-aligned exactly when rgb is.
  p.word_stores = reinterpret_cast<std::uintptr_t>(rgb) % 4 == 0;
  return p;
}

}  // namespace trainscope::kernels
