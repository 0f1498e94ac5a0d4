#pragma once
// Launchers of the colorize kernels. Plain C++ so that src/ops can call them without CUDA headers;
// arguments are already checked by the op layer.
#include <cstdint>

#include "palette_param.h"
#include "trainscope/device.h"
#include "trainscope/tensor_view.h"

namespace trainscope::kernels {

// mask: contiguous, `pixels` ids of `mask_dtype`; rgb: 3·pixels bytes; ignored: int64 or null.
void launch_mask_to_rgb(const void* mask, DType mask_dtype, int64_t pixels, const PaletteParam& palette,
                        uint8_t* rgb, int64_t* ignored, int device, Stream stream);

}  // namespace trainscope::kernels
