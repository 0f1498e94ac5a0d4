#pragma once
// Labels from logits (docs/ops.md#labels-from-logits): argmax label (first index of the maximum; a
// NaN counts as the maximum, as in torch.argmax), softmax confidence of that label (numerically
// stable), optional top-k (k ≤ 5, ties to the lower index), binary thresholding for C == 1, and a
// confusion matrix accumulated on the device across calls. CPU and CUDA give identical labels.
//
// Non-finite rows, exactly as torch.softmax: a row with a NaN, a +Inf, or only −Inf values has NaN
// confidences (its label is still the argmax: the first NaN, else the first +Inf, else index 0);
// −Inf next to finite values has probability 0. Top-k uses the argmax order (NaNs first), so
// top-1 is the label.
//
// C == 1 (binary): label = value > threshold, or sigmoid(value) > threshold with apply_sigmoid
// (decided as value > logit(threshold) in double precision, identically on CPU and CUDA); a NaN is
// never above: label 0, confidence NaN. Confidence is the chosen class's probability: p or 1 − p
// (p = value, or sigmoid(value)). Top-k (k ≤ 2) lists the chosen class, then the other.
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

// Outputs; all contiguous, on the logits' device. Optional outputs may have data == nullptr.
struct LabelOutputs {
  TensorView labels;             // int64 [N], required
  TensorView confidence;         // float32 [N] (optional); C == 1: probability of the chosen class
  TensorView top_k_labels;       // int64 [N, k], required when options.top_k > 0
  TensorView top_k_confidence;   // float32 [N, k] (optional): softmax probabilities
};

// Optional targets and accumulators for evaluation across calls (added to, never cleared here:
// zero them once, e.g. with cudaMemsetAsync or torch::zeros).
struct LabelTargets {
  TensorView targets;            // int64 [N], any strides
  TensorView confusion;          // int64 [C', C'] (C' = max(C, 2)), row target, column prediction; required
  TensorView ignored;            // int64 scalar (optional): targets outside [0, C')
};

// logits: [N, C] float32 / float16 / bfloat16 (any strides on the CPU; unit stride along C on
// CUDA, any row stride). options.top_k ≤ min(5, C'). On CUDA everything is enqueued on `stream`:
// no allocation, no host synchronisation (graph-capturable).
void labels_from_logits(const TensorView& logits, const LabelOutputs& outputs,
                        const LabelTargets* targets = nullptr, const LabelOptions& options = {},
                        Stream stream = {});

}  // namespace trainscope
