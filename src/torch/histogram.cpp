#include <ATen/ATen.h>

#include <string>

#include "common/check.h"
#include "trainscope/torch.h"

namespace trainscope {
namespace {

constexpr const char* kOp = "histograms";

bool supported(c10::ScalarType t) {
  switch (t) {
    case c10::ScalarType::Float: case c10::ScalarType::Half: case c10::ScalarType::BFloat16:
    case c10::ScalarType::Double: case c10::ScalarType::Byte: case c10::ScalarType::Char:
    case c10::ScalarType::Short: case c10::ScalarType::Int: case c10::ScalarType::Long:
    case c10::ScalarType::Bool:
      return true;
    default:
      return false;
  }
}

}  // namespace

HistogramInputs histogram_inputs(const std::vector<torch::Tensor>& tensors) {
  detail::check(!tensors.empty(), kOp, "tensors", "expected at least one tensor, got an empty list");
  HistogramInputs in;
  in.views.reserve(tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const std::string arg = "tensors[" + std::to_string(i) + "]";
    const torch::Tensor& t = tensors[i];
    detail::check(t.defined(), kOp, arg.c_str(), "is undefined");
    detail::check(supported(t.scalar_type()), kOp, arg.c_str(), "unsupported dtype ",
                  c10::toString(t.scalar_type()), " (expected float32/16, bfloat16, float64, an integer type or bool)");
    if (!t.device().is_cpu() && !t.device().is_cuda()) {  // message built only on failure: runs per tensor
      detail::fail(kOp, arg.c_str(), "unsupported device ", t.device().str(), " (expected cpu or cuda)");
    }
    if (t.is_cuda() && !t.is_contiguous()) {
      in.keep.push_back(t.contiguous());
      in.views.push_back(view_of(in.keep.back()));
    } else {
      in.views.push_back(view_of(t));
    }
  }
  return in;
}

HistogramPlan histogram_plan(const std::vector<torch::Tensor>& tensors, HistogramOptions options) {
  const HistogramInputs in = histogram_inputs(tensors);
  return HistogramPlan(in.views, options);
}

void enqueue_histograms(HistogramPlan& plan, const std::vector<torch::Tensor>& tensors) {
  const HistogramInputs in = histogram_inputs(tensors);
  plan.enqueue(in.views, current_stream(tensors.front().device()));
}

std::vector<HistogramResult> histograms(const std::vector<torch::Tensor>& tensors, HistogramOptions options) {
  const HistogramInputs in = histogram_inputs(tensors);
  return histograms(in.views, options, current_stream(tensors.front().device()));
}

}  // namespace trainscope
