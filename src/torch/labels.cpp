// Tensor-in/tensor-out forms of labels_from_logits and segmentation_to_rgb for libtorch.
#include "common/check.h"
#include "trainscope/torch.h"

namespace trainscope {
namespace {

// CUDA reads rows with unit stride along C; the CPU path reads any strides in place.
torch::Tensor rows_readable(const torch::Tensor& logits) {
  if (!logits.is_cuda() || logits.dim() != 2 || logits.stride(1) == 1 || logits.size(1) == 1) return logits;
  return logits.contiguous();
}

LabelTensors run_labels(const torch::Tensor& logits_in, const LabelTargets* targets, const LabelOptions& options) {
  detail::check(logits_in.defined(), "labels_from_logits", "logits", "is undefined");
  const torch::Tensor logits = rows_readable(logits_in);
  const int64_t n = logits.dim() >= 1 ? logits.size(0) : 0;
  const auto long_options = logits.options().dtype(torch::kLong);
  LabelTensors out;
  out.labels = torch::empty({n}, long_options);
  out.confidence = torch::empty({n}, logits.options().dtype(torch::kFloat));
  LabelOutputs views;
  views.labels = view_of(out.labels);
  views.confidence = view_of(out.confidence);
  if (options.top_k > 0) {
    out.top_k_labels = torch::empty({n, options.top_k}, long_options);
    out.top_k_confidence = torch::empty({n, options.top_k}, logits.options().dtype(torch::kFloat));
    views.top_k_labels = view_of(out.top_k_labels);
    views.top_k_confidence = view_of(out.top_k_confidence);
  }
  labels_from_logits(view_of(logits), views, targets, options, current_stream(logits.device()));
  return out;
}

}  // namespace

LabelTensors labels_from_logits(const torch::Tensor& logits, const LabelOptions& options) {
  return run_labels(logits, nullptr, options);
}

LabelTensors labels_from_logits(const torch::Tensor& logits, const torch::Tensor& targets,
                                const torch::Tensor& confusion, const torch::Tensor& ignored,
                                const LabelOptions& options) {
  detail::check(targets.defined(), "labels_from_logits", "targets", "is undefined");
  detail::check(confusion.defined(), "labels_from_logits", "confusion", "is undefined");
  LabelTargets t;
  t.targets = view_of(targets);
  t.confusion = view_of(confusion);
  if (ignored.defined()) t.ignored = view_of(ignored);
  return run_labels(logits, &t, options);
}

SegmentationTensors segmentation_to_rgb(const torch::Tensor& logits_in, ChannelLayout layout_in, const Palette& palette,
                                        const torch::Tensor& target_in, const MaskToRgbOptions& options) {
  constexpr const char* kOp = "segmentation_to_rgb";
  detail::check(logits_in.defined(), kOp, "logits", "is undefined");
  detail::check(logits_in.dim() == 4, kOp, "logits", "expected rank 4, got rank ", logits_in.dim());
  torch::Tensor logits = logits_in;
  ChannelLayout layout = layout_in;
  // An [N, C, H, W] tensor in torch's channels_last memory format is an [N, H, W, C] tensor in
  // memory: read it in place as channels-last instead of copying it.
  if (layout == ChannelLayout::ChannelsFirst && !logits.is_contiguous() &&
      logits.is_contiguous(at::MemoryFormat::ChannelsLast)) {
    logits = logits.permute({0, 2, 3, 1});
    layout = ChannelLayout::ChannelsLast;
  }
  // CUDA needs contiguous inputs; the CPU path reads any strides in place.
  if (logits.is_cuda()) logits = logits.contiguous();
  torch::Tensor target;
  if (target_in.defined()) target = target_in.is_cuda() ? target_in.contiguous() : target_in;
  const bool first = layout == ChannelLayout::ChannelsFirst;
  const int64_t classes = logits.size(first ? 1 : 3);
  const auto long_options = logits.options().dtype(torch::kLong);

  SegmentationTensors out;
  out.rgb = torch::empty({logits.size(0), logits.size(first ? 2 : 1), logits.size(first ? 3 : 2), 3},
                         logits.options().dtype(torch::kUInt8));
  out.class_counts = torch::empty({classes}, long_options);
  SegmentationStats stats;
  stats.class_counts = view_of(out.class_counts);
  TensorView target_view;
  if (target.defined()) {
    out.intersection = torch::empty({classes}, long_options);
    out.union_counts = torch::empty({classes}, long_options);
    stats.intersection = view_of(out.intersection);
    stats.union_counts = view_of(out.union_counts);
    target_view = view_of(target);
  }
  segmentation_to_rgb(view_of(logits), layout, palette, view_of(out.rgb), stats,
                      target.defined() ? &target_view : nullptr, options, current_stream(logits.device()));
  return out;
}

}  // namespace trainscope
