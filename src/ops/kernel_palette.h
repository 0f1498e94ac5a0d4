#pragma once
// A Palette in the form the colorize and segmentation kernels take (kernels/palette_param.h).
#include "palette_param.h"  // kernels/
#include "trainscope/ops/colorize.h"

namespace trainscope::detail {

kernels::PaletteParam make_palette_param(const Palette& palette, Rgb ignore_color);

}  // namespace trainscope::detail
