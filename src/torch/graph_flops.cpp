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


// What the end callback needs of an operator's inputs (they are only valid in the start callback).
struct OperatorShapes : at::ObserverContext {
  std::string op;
  std::vector<std::vector<int64_t>> inputs;  // sizes of the tensor inputs, in order
  bool transposed = false;
};

bool is_counted(const std::string& op) {
  return op == "aten::convolution" || op == "aten::mm" || op == "aten::addmm" || op == "aten::bmm" ||
         op == "aten::baddbmm";
}

std::unique_ptr<at::ObserverContext> capture_shapes(const at::RecordFunction& fn) {
  std::string op(fn.name());
  if (!is_counted(op)) return nullptr;
  auto shapes = std::make_unique<OperatorShapes>();
  shapes->op = op;
  auto inputs = fn.inputs();
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].isTensor()) shapes->inputs.push_back(inputs[i].toTensor().sizes().vec());
    else shapes->inputs.emplace_back();
  }
  shapes->transposed = op == "aten::convolution" && inputs.size() > 6 && inputs[6].isBool() && inputs[6].toBool();
  return shapes;
}

// FLOPs of one operator call from its input shapes and its output.
double operator_flops(const at::RecordFunction& fn, const OperatorShapes& shapes) {
  const auto& in = shapes.inputs;
  auto numel = [](const std::vector<int64_t>& sizes) {
    int64_t p = 1;
    for (auto s : sizes) p *= s;
    return double(p);
  };
  if (shapes.op == "aten::convolution") {
    auto outputs = fn.outputs();
    if (in.size() < 2 || in[1].size() < 3 || outputs.empty() || !outputs[0].isTensor()) return 0;
    const auto& weight = in[1];  // [Cout, Cin/groups, k...] (transposed: [Cin, Cout/groups, k...])
    double per_element = numel(weight) / double(weight[0]);
    double elements = shapes.transposed ? numel(in[0]) : double(outputs[0].toTensor().numel());
    return 2.0 * elements * per_element;
  }
  std::size_t a = (shapes.op == "aten::addmm" || shapes.op == "aten::baddbmm") ? 1 : 0;
  if (in.size() < a + 2) return 0;
  const auto& lhs = in[a];
  const auto& rhs = in[a + 1];
  if (lhs.size() != rhs.size() || (lhs.size() != 2 && lhs.size() != 3)) return 0;
  return 2.0 * numel(lhs) * double(rhs.back());  // [b,] n × k times [b,] k × m
}

}  // namespace

double count_flops(const Forward& forward, const torch::Tensor& input) {
  if (!forward) throw Error("count_flops: forward: expected a model's forward function");
  if (!input.defined()) throw Error("count_flops: input: expected a defined example input");
  static thread_local double* counter = nullptr;
  double flops = 0;
  counter = &flops;
  auto handle = at::addThreadLocalCallback(
      at::RecordFunctionCallback(capture_shapes,
                                 [](const at::RecordFunction& fn, at::ObserverContext* context) {
                                   if (counter && context)
                                     *counter += operator_flops(fn, *static_cast<OperatorShapes*>(context));
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
