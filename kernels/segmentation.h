#pragma once
// Launcher of the fused segmentation kernels (logits → argmax → RGB + class counts + IoU counts).
// Plain C++ so that src/ops can call it without CUDA headers; arguments are already checked.
#include <cstdint>

#include "palette_param.h"
#include "trainscope/device.h"
#include "trainscope/tensor_view.h"

namespace trainscope::kernels {

struct SegmentationLaunch {
  const void* logits = nullptr;  // contiguous [N, C, H, W] or [N, H, W, C]
  DType dtype = DType::Float32;
  bool channels_last = false;
  int64_t images = 0;            // N
  int classes = 0;               // C
  int64_t pixels_per_image = 0;  // H·W
  uint8_t* rgb = nullptr;        // contiguous [N, H, W, 3]
  int64_t* class_counts = nullptr;  // [C] or null; all three overwritten
  int64_t* intersection = nullptr;  // [C] or null
  int64_t* union_counts = nullptr;        // [C] or null
  const void* target = nullptr;     // contiguous [N, H, W] or null
  DType target_dtype = DType::Int64;
};

void launch_segmentation_to_rgb(const SegmentationLaunch& args, const PaletteParam& palette, int device,
                                Stream stream);

}  // namespace trainscope::kernels
