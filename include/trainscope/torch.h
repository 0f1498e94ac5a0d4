#pragma once
// The libtorch adapter (link trainscope::torch): torch::Tensor ↔ TensorView, the current CUDA
// stream, and tensor-in/tensor-out forms of the ops. The only public header that includes torch.
#include <torch/torch.h>

#include <utility>

#include "trainscope/trainscope.h"

namespace trainscope {

DType dtype_of(c10::ScalarType type);
c10::ScalarType scalar_type_of(DType dtype);
Device device_of(const c10::Device& device);
c10::Device torch_device_of(const Device& device);

// A non-owning view of `tensor` (any strides); the tensor must outlive the view.
TensorView view_of(const torch::Tensor& tensor);

// The stream libtorch is currently using on `device` (null handle for the CPU): trainscope
// enqueues its work there, ordered after the training step that produced the tensors.
Stream current_stream(const c10::Device& device);

// mask [H, W] or [N, H, W] → uint8 RGB [..., H, W, 3] on the mask's device, and the number of ids
// outside the palette as an int64 scalar tensor on the same device (no host synchronisation).
std::pair<torch::Tensor, torch::Tensor> mask_to_rgb(const torch::Tensor& mask, const Palette& palette,
                                                    const MaskToRgbOptions& options = {});

// ---- Labels from logits and fused segmentation → RGB (trainscope/ops/labels.h, colorize.h) ----

// Outputs of labels_from_logits, on the logits' device. The top-k tensors are undefined when
// options.top_k == 0.
struct LabelTensors {
  torch::Tensor labels;            // int64 [N]
  torch::Tensor confidence;        // float32 [N]
  torch::Tensor top_k_labels;      // int64 [N, k]
  torch::Tensor top_k_confidence;  // float32 [N, k]
};

// logits [N, C] float32 / float16 / bfloat16 → labels, confidence (and top-k), no host sync.
LabelTensors labels_from_logits(const torch::Tensor& logits, const LabelOptions& options = {});

// The same, and accumulates `confusion` (int64 [C', C'], C' = max(C, 2), row target, column
// prediction) and `ignored` (int64 scalar or undefined) in place from `targets` (int64 [N]); all on
// the logits' device. Start them with torch::zeros.
LabelTensors labels_from_logits(const torch::Tensor& logits, const torch::Tensor& targets,
                                const torch::Tensor& confusion, const torch::Tensor& ignored,
                                const LabelOptions& options = {});

// Outputs of segmentation_to_rgb; intersection and union are undefined without a target.
struct SegmentationTensors {
  torch::Tensor rgb;           // uint8 [N, H, W, 3]
  torch::Tensor class_counts;  // int64 [C], predicted pixels per class
  torch::Tensor intersection;  // int64 [C]
  torch::Tensor union_counts;        // int64 [C]
};

// Segmentation logits [N, C, H, W] (ChannelsFirst) or [N, H, W, C] (ChannelsLast) → RGB through
// the palette, class counts and, with a target mask [N, H, W] (uint8/int32/int64), IoU counts.
SegmentationTensors segmentation_to_rgb(const torch::Tensor& logits, ChannelLayout layout,
                                        const Palette& palette, const torch::Tensor& target = {},
                                        const MaskToRgbOptions& options = {});

}  // namespace trainscope

// ---- Histograms and statistics (ops/histogram.h) -------------------------------------------
#include "trainscope/ops/histogram.h"

namespace trainscope {

// Views of `tensors` for the histogram op. CUDA tensors that are not contiguous are copied to
// contiguous ones on the current stream (the kernels read contiguous data); `keep` holds those
// copies, so keep this object alive until the op has been enqueued (the caching allocator orders
// their reuse after the enqueued work). CPU tensors are viewed in place, with any strides.
struct HistogramInputs {
  std::vector<torch::Tensor> keep;
  std::vector<TensorView> views;
};
HistogramInputs histogram_inputs(const std::vector<torch::Tensor>& tensors);

// A plan for tensors of these element counts on their (common) device.
HistogramPlan histogram_plan(const std::vector<torch::Tensor>& tensors, HistogramOptions options = {});

// Enqueues `plan` for `tensors` on libtorch's current stream of their device (no host sync).
void enqueue_histograms(HistogramPlan& plan, const std::vector<torch::Tensor>& tensors);

// One-shot: histograms and statistics of every tensor (blocks until the results are on the host).
std::vector<HistogramResult> histograms(const std::vector<torch::Tensor>& tensors,
                                        HistogramOptions options = {});

}  // namespace trainscope
