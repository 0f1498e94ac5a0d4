#pragma once
// Prediction examples (images with captions, segmentation triplets) and the evaluation table,
// prepared on the model's device and finished on the run's writer thread (docs/callback.md).
#include <memory>
#include <string>
#include <vector>

#include "torch/callback/policy.h"
#include "trainscope/ops/colorize.h"
#include "trainscope/torch/callback.h"

namespace trainscope::detail {

// Caption of class `index`: labels[index], or the integer itself outside the list.
std::string label_caption(int64_t index, const std::vector<std::string>& labels);

// Predicted class per example of `outputs` [N] or [N, C] (C == 1: binary, value > 0.5).
torch::Tensor predicted_labels(const torch::Tensor& outputs);

// uint8 [N, H, W, 3] RGB images of a batch of `type` (Image or SegmentationMask); min–max
// normalised per image for non-uint8 images; class ids or logits [N, C, H, W] through `palette`.
torch::Tensor to_rgb_images(const torch::Tensor& batch, DataType type, const Palette& palette);

// The "examples" images of up to `count` validation examples, as a pending part (nullptr when the
// input/output types give nothing to draw).
std::unique_ptr<PendingPart> prediction_examples(const torch::Tensor& inputs, const torch::Tensor& targets,
                                                 const torch::Tensor& outputs, DataType input_type,
                                                 DataType output_type, const CallbackOptions& options,
                                                 const std::string& key);

// The evaluation table over all validation rows, as a pending part.
std::unique_ptr<PendingPart> evaluation_table(const torch::Tensor& inputs, const torch::Tensor& targets,
                                              const torch::Tensor& outputs, const CallbackOptions& options,
                                              const std::string& key);

}  // namespace trainscope::detail
