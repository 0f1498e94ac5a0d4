#pragma once
// Labels from logits (SPEC §2 "Labels from logits"): argmax label (first index of the maximum; a
// NaN counts as the maximum, as in torch.argmax), softmax confidence of that label (numerically
// stable), optional top-k (k ≤ 5, ties to the lower index), binary thresholding for C == 1, and a
// confusion matrix accumulated on the device across calls. CPU and CUDA give identical labels.
#include <cstdint>

#include "trainscope/device.h"
#include "trainscope/tensor_view.h"

namespace trainscope {

constexpr int kMaxTopK = 5;

struct LabelOptions {
  int top_k = 0;                  // 0: no top-k outputs; else 1..5
  double threshold = 0.5;         // C == 1: label = value > threshold
  bool apply_sigmoid = false;     // C == 1: the value is a logit; compare sigmoid(value)
};

// Outputs; all on the logits' device. Unused optional outputs have data == nullptr.
struct LabelOutputs {
  TensorView labels;             // int64 [N]
  TensorView confidence;         // float32 [N]; C == 1: probability of the chosen class
  TensorView top_k_labels;       // int64 [N, k] (optional)
  TensorView top_k_confidence;   // float32 [N, k] (optional)
};

// Optional targets and accumulators for evaluation across calls (not cleared here).
struct LabelTargets {
  TensorView targets;            // int64 [N]
  TensorView confusion;          // int64 [C', C'] (C' = max(C, 2)), row target, column prediction
  TensorView ignored;            // int64 [1]: targets outside [0, C')
};

// logits: [N, C] float32 / float16 / bfloat16 (any strides on the CPU; rows contiguous on CUDA).
void labels_from_logits(const TensorView& logits, const LabelOutputs& outputs,
                        const LabelTargets* targets = nullptr, const LabelOptions& options = {},
                        Stream stream = {});

}  // namespace trainscope
