#include "ops/kernel_palette.h"

namespace trainscope::detail {

static_assert(kernels::kMaxPaletteColors == Palette::kMaxClasses,
              "the kernels' palette table must hold every palette the op layer accepts");

kernels::PaletteParam make_palette_param(const Palette& palette, Rgb ignore_color) {
  kernels::PaletteParam param{};
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

}  // namespace trainscope::detail
