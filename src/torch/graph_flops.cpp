// graph.json from the module tree, and FLOPs counted per ATen operator through RecordFunction.
#include <ATen/record_function.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "trainscope/error.h"
#include "trainscope/torch/callback.h"

namespace trainscope {

std::string module_graph_json(const torch::nn::Module& module) {
  nlohmann::json nodes = nlohmann::json::array(), edges = nlohmann::json::array();
  int64_t total = 0;
  std::function<void(const std::string&, const torch::nn::Module&)> visit =
      [&](const std::string& name, const torch::nn::Module& m) {
        nlohmann::json parameters = nlohmann::json::array();
        int64_t count = 0;
        for (const auto& p : m.named_parameters(/*recurse=*/false)) {
          parameters.push_back({{"name", p.key()}, {"shape", p.value().sizes().vec()},
                                {"count", p.value().numel()}, {"trainable", p.value().requires_grad()}});
          count += p.value().numel();
        }
        total += count;
        nodes.push_back({{"name", name}, {"id", name}, {"class_name", m.name()},
                         {"num_parameters", count}, {"parameters", std::move(parameters)}});
        for (const auto& child : m.named_children()) {
          std::string child_name = name + "." + child.key();
          edges.push_back({name, child_name});
          visit(child_name, *child.value());
        }
      };
  visit("model", module);
  return nlohmann::json{{"format", "torch"}, {"nodes", std::move(nodes)}, {"edges", std::move(edges)},
                        {"total_parameters", total}}
      .dump();
}

namespace {

int64_t product(c10::IntArrayRef sizes) {
  int64_t p = 1;
  for (auto s : sizes) p *= s;
  return p;
}

// FLOPs of one operator call from its inputs and outputs; 0 for operators not counted.
double operator_flops(const at::RecordFunction& fn) {
  const char* name = fn.name();
  auto inputs = fn.inputs();
  auto outputs = fn.outputs();
  auto tensor_at = [&](c10::ArrayRef<c10::IValue> values, size_t i) -> const at::Tensor* {
    return i < values.size() && values[i].isTensor() ? &values[i].toTensor() : nullptr;
  };
  std::string op(name);
  if (op == "aten::convolution") {
    const at::Tensor *input = tensor_at(inputs, 0), *weight = tensor_at(inputs, 1), *out = tensor_at(outputs, 0);
    if (!input || !weight || !out || weight->dim() < 3) return 0;
    bool transposed = inputs.size() > 6 && inputs[6].isBool() && inputs[6].toBool();
    // weight: [Cout, Cin/groups, k...] (transposed: [Cin, Cout/groups, k...])
    double per_element = double(weight->numel()) / double(weight->size(0));
    return 2.0 * double(transposed ? input->numel() : out->numel()) * per_element;
  }
  if (op == "aten::mm" || op == "aten::addmm") {
    size_t a = op == "aten::mm" ? 0 : 1;
    const at::Tensor *lhs = tensor_at(inputs, a), *rhs = tensor_at(inputs, a + 1);
    if (!lhs || !rhs || lhs->dim() != 2 || rhs->dim() != 2) return 0;
    return 2.0 * double(lhs->size(0)) * double(lhs->size(1)) * double(rhs->size(1));
  }
  if (op == "aten::bmm" || op == "aten::baddbmm") {
    size_t a = op == "aten::bmm" ? 0 : 1;
    const at::Tensor *lhs = tensor_at(inputs, a), *rhs = tensor_at(inputs, a + 1);
    if (!lhs || !rhs || lhs->dim() != 3 || rhs->dim() != 3) return 0;
    return 2.0 * double(product(lhs->sizes())) * double(rhs->size(2));
  }
  return 0;
}

}  // namespace

double count_flops(const Forward& forward, const torch::Tensor& input) {
  if (!forward) throw Error("count_flops: forward: expected a model's forward function");
  if (!input.defined()) throw Error("count_flops: input: expected a defined example input");
  static thread_local double* counter = nullptr;
  double flops = 0;
  counter = &flops;
  auto handle = at::addThreadLocalCallback(
      at::RecordFunctionCallback(nullptr,
                                 [](const at::RecordFunction& fn, at::ObserverContext*) {
                                   if (counter) *counter += operator_flops(fn);
                                 })
          .needsInputs(true)
          .needsOutputs(true)
          .scopes({at::RecordScope::FUNCTION}));
  try {
    torch::NoGradGuard no_grad;
    forward(input);
  } catch (...) {
    at::removeCallback(handle);
    counter = nullptr;
    throw;
  }
  at::removeCallback(handle);
  counter = nullptr;
  return flops;
}

}  // namespace trainscope
