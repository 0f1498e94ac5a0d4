#pragma once
// The palette as a kernel argument: it rides in the kernel's parameter space (≤ 3 KiB), so no
// device allocation or copy is needed per call and the launch is graph-capturable as is.
#include <cstdint>

#include "trainscope/ops/colorize.h"

namespace trainscope::kernels {

struct PaletteParam {
  uint8_t rgb[Palette::kMaxClasses * 3];
  int size;
  uint8_t ignore[3];
};

inline PaletteParam make_palette_param(const Palette& palette, Rgb ignore_color) {
  PaletteParam param{};
  param.size = palette.size();
  for (int i = 0; i < palette.size(); ++i) {
    param.rgb[3 * i + 0] = palette[i].r;
    param.rgb[3 * i + 1] = palette[i].g;
    param.rgb[3 * i + 2] = palette[i].b;
  }
  param.ignore[0] = ignore_color.r;
  param.ignore[1] = ignore_color.g;
  param.ignore[2] = ignore_color.b;
  return param;
}

}  // namespace trainscope::kernels
