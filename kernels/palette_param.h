#pragma once
// The palette as a kernel argument: it rides in the kernel's parameter space (≤ 3 KiB + 8 bytes),
// so no device allocation or copy is needed per call and the launch is graph-capturable as is.
// Plain C++ with no op-layer types: src/ops fills it from a Palette (src/ops/kernel_palette.cpp).
#include <cstdint>

namespace trainscope::kernels {

constexpr int kMaxPaletteColors = 1024;  // = Palette::kMaxClasses, checked where it is filled

struct PaletteParam {
  uint8_t rgb[kMaxPaletteColors * 3];  // colour i at rgb[3i .. 3i+2]
  int size;                            // colours in use, 1..kMaxPaletteColors
  uint8_t ignore[3];                   // the colour of ids outside [0, size)
};

}  // namespace trainscope::kernels
