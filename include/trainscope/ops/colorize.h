#pragma once
// Class-id masks to RGB images (docs/ops.md#masks-to-rgb). CPU and CUDA give identical bytes.
#include <array>
#include <cstdint>
#include <vector>

#include "trainscope/device.h"
#include "trainscope/tensor_view.h"

namespace trainscope {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb& o) const { return r == o.r && g == o.g && b == o.b; }
};

// K colours indexed by class id, K in [1, Palette::kMaxClasses].
class Palette {
 public:
  static constexpr int kMaxClasses = 1024;

  // From `class_colors`: per-class RGB in [0, 1], each channel rounded from 255·c.
  static Palette from_class_colors(const std::vector<std::array<float, 3>>& class_colors);
  // The default rule: class 0 black, class i ≥ 1 the fully saturated HSV hue (i−1)/(C−1).
  static Palette default_for(int num_classes);
  explicit Palette(std::vector<Rgb> colors);

  int size() const { return static_cast<int>(colors_.size()); }
  const std::vector<Rgb>& colors() const { return colors_; }
  const Rgb& operator[](int i) const { return colors_[static_cast<std::size_t>(i)]; }

 private:
  std::vector<Rgb> colors_;
};

struct MaskToRgbOptions {
  Rgb ignore_color{0, 0, 0};  // colour of ids outside [0, K)
};

// mask: [H, W] or [N, H, W] of uint8, int32 or int64 (any strides on the CPU; contiguous on CUDA).
// rgb: contiguous uint8 [..., H, W, 3] with the mask's leading shape, on the mask's device.
// ignored_count: optional int64 scalar on the mask's device; receives the number of ids outside
// [0, K). On CUDA the work is enqueued on `stream` and nothing blocks the host.
void mask_to_rgb(const TensorView& mask, const Palette& palette, const TensorView& rgb,
                 const TensorView* ignored_count = nullptr, const MaskToRgbOptions& options = {},
                 Stream stream = {});

enum class ChannelLayout { ChannelsFirst, ChannelsLast };  // [N, C, H, W] or [N, H, W, C]

// Outputs of the fused segmentation path; all int64 [C] on the logits' device, overwritten.
// Optional ones have data == nullptr.
struct SegmentationStats {
  TensorView class_counts;  // predicted pixels per class
  TensorView intersection;  // per class: predicted == target == class (needs target)
  TensorView union_counts;        // per class: predicted == class or target == class (needs target)
};

// Segmentation logits (float32 / float16 / bfloat16) → argmax class → RGB in one pass over the
// logits, plus per-class counts and, with `target` (int64/int32/uint8 [N, H, W]), intersection and
// union counts for IoU. Argmax ties go to the lower class; a NaN counts as the maximum.
// rgb: contiguous uint8 [N, H, W, 3]. Classes at or beyond the palette get the ignore colour.
// Pixels whose target is outside [0, C) (e.g. 255 "void") are left out of intersection and union;
// they still count in class_counts. intersection / union_counts need a target. Any strides on the CPU;
// contiguous logits and target on CUDA, where the outputs are zeroed with cudaMemsetAsync and all
// work is enqueued on `stream` (no allocation, no host synchronisation, graph-capturable).
void segmentation_to_rgb(const TensorView& logits, ChannelLayout layout, const Palette& palette,
                         const TensorView& rgb, const SegmentationStats& stats = {},
                         const TensorView* target = nullptr, const MaskToRgbOptions& options = {},
                         Stream stream = {});

}  // namespace trainscope
