// Python bindings of trainscope/torch/distributed.h for the distributed tests: the process group
// is created in Python (torch.distributed, Gloo) and handed over as the c10d object it wraps.
#include <torch/extension.h>

#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>

#include <unistd.h>

#include <fstream>

#include "callback/policy.h"
#include "trainscope/torch/callback.h"
#include "trainscope/run/run.h"
#include "trainscope/torch/distributed.h"
#include "torch/distributed/sharded_checkpoint.h"

namespace py = pybind11;
namespace ts = trainscope;

namespace {

ts::DistributedOptions options_of(py::object group, const std::vector<std::string>& sharded, int64_t timeout_ms) {
  ts::DistributedOptions o;
  if (!group.is_none()) o.group = py::cast<c10::intrusive_ptr<::c10d::ProcessGroup>>(group);
  o.sharded = {sharded.begin(), sharded.end()};
  o.timeout = std::chrono::milliseconds(timeout_ms);
  return o;
}

py::dict to_dict(const ts::HistogramResult& r) {
  py::dict d;
  d["counts"] = r.counts;
  d["edges"] = r.edges;
  d["count"] = r.stats.count;
  d["nan_count"] = r.stats.nan_count;
  d["pos_inf_count"] = r.stats.pos_inf_count;
  d["neg_inf_count"] = r.stats.neg_inf_count;
  d["sum"] = r.stats.sum;
  d["sum_squares"] = r.stats.sum_squares;
  d["min"] = r.stats.min;
  d["max"] = r.stats.max;
  d["mean"] = r.stats.mean;
  d["std"] = r.stats.std;
  return d;
}

// trainscope::Error → RuntimeError with the same text (what the tests compare across ranks).
template <typename F>
auto guarded(F&& f) {
  try {
    return f();
  } catch (const ts::Error& e) {
    throw std::runtime_error(std::string("trainscope::Error: ") + e.what());
  }
}

// The test's sharded model: a parameter "weight" (this rank's shard) and, when `bias` is given,
// a child "head" with a parameter "bias" and a buffer "count" (sub-archives in the checkpoint).
std::shared_ptr<torch::nn::Module> make_module(const torch::Tensor& weight, const std::optional<torch::Tensor>& bias,
                                               int64_t count) {
  auto module = std::make_shared<torch::nn::Module>();
  module->register_parameter("weight", weight.clone());
  if (bias) {
    auto head = std::make_shared<torch::nn::Module>();
    head->register_parameter("bias", bias->clone());
    head->register_buffer("count", torch::full({1}, count, torch::kLong));
    module->register_module("head", head);
  }
  return module;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("rank", [](py::object group) { return ts::rank(options_of(group, {}, 0)); });

  m.def("histograms", [](py::object group, const std::vector<std::string>& names, const std::vector<torch::Tensor>& tensors,
                         const std::vector<std::string>& sharded, int bins, int64_t timeout_ms) {
    const ts::DistributedOptions o = options_of(group, sharded, timeout_ms);
    std::vector<std::pair<std::string, torch::Tensor>> named;
    for (std::size_t i = 0; i < names.size() && i < tensors.size(); ++i) named.emplace_back(names[i], tensors[i]);
    std::vector<std::optional<ts::HistogramResult>> r;
    {
      py::gil_scoped_release release;  // the collectives may wait
      r = guarded([&] { return ts::distributed_histograms(o, named, {bins}); });
    }
    py::list out;
    for (const auto& h : r) out.append(h ? py::object(to_dict(*h)) : py::object(py::none()));
    return out;
  });

  // The single-process op: the reference for the sharded histograms.
  m.def("reference", [](const std::vector<torch::Tensor>& tensors, int bins) {
    py::list out;
    for (const auto& r : guarded([&] { return ts::histograms(tensors, {bins}); })) out.append(to_dict(r));
    return out;
  });

  m.def("reduce_metrics", [](py::object group, const std::map<std::string, torch::Tensor>& metrics,
                             const std::map<std::string, std::string>& reduce, int64_t timeout_ms,
                             bool check_agreement) {
    ts::DistributedOptions o = options_of(group, {}, timeout_ms);
    o.check_agreement = check_agreement;
    for (const auto& [name, how] : reduce) {
      o.reduce[name] = how == "sum" ? ts::Reduce::Sum : how == "min" ? ts::Reduce::Min
                       : how == "max" ? ts::Reduce::Max : ts::Reduce::Mean;
    }
    std::map<std::string, torch::Tensor> r;
    {
      py::gil_scoped_release release;
      r = guarded([&] { return ts::reduce_metrics(o, metrics); });
    }
    return r;
  }, py::arg("group"), py::arg("metrics"), py::arg("reduce"), py::arg("timeout_ms"), py::arg("check_agreement") = true);

  // Best tracking as the callback does it, fed the reduced monitored value: per epoch, whether it
  // improved.
  m.def("best_decisions", [](py::object group, const std::string& monitor, const std::vector<double>& values,
                             const std::string& mode) {
    const ts::DistributedOptions o = options_of(group, {}, 0);
    ts::detail::BestTracker best(mode == "max" ? ts::detail::Mode::Max : ts::detail::Mode::Min);
    std::vector<bool> improved;
    py::gil_scoped_release release;
    for (std::size_t e = 0; e < values.size(); ++e)
      improved.push_back(best.update(guarded([&] { return ts::reduce_value(o, monitor, values[e]); }), int64_t(e)));
    return improved;
  });

  // The Callback under the group (CallbackOptions::distributed): one batch and one epoch with
  // this rank's loss, val_acc and parameter shard "weight" (declared sharded), at batch `step` and
  // epoch `step`; a non-empty `run_id` resumes that run. Returns (the run directory on rank 0 or
  // "", the best value this rank's callback holds, its best checkpoint path).
  m.def("callback_epoch", [](py::object group, const std::string& root, const torch::Tensor& weight_shard,
                             double loss, double val_acc, const std::string& run_id, int64_t step) {
    const ts::DistributedOptions o = options_of(group, {"weight"}, 0);
    py::gil_scoped_release release;
    return guarded([&] {
      auto module = std::make_shared<torch::nn::Module>();
      module->register_parameter("weight", weight_shard.clone());
      ts::CallbackOptions co;
      co.monitor = "val_acc";
      co.log_weights = true;
      co.histogram_frequency = 1;
      co.log_batch_frequency = 1;
      co.save_graph = false;
      co.tensorboard = false;
      co.predictions = 0;
      co.run.root = root;
      co.run.run_id = run_id;  // a given id resumes that run (rank 0 opens it)
      co.distributed = o;
      co.log = [](const std::string&) {};
      ts::Callback callback(co);
      callback.set_model(module, [](const torch::Tensor& x) { return x; });
      callback.on_train_begin();
      callback.on_batch_end(step, {{"loss", torch::scalar_tensor(loss)}});
      callback.on_epoch_end(step, {{"val_acc", val_acc}});
      callback.on_train_end();
      const std::string directory = ts::is_rank0(o) ? callback.run().directory() : std::string();
      return std::make_tuple(directory, callback.best().value_or(-1.0), callback.best_checkpoint_path());
    });
  });

  // save_sharded_checkpoint of make_module(weight, bias), with an SGD optimizer that has momentum
  // state when `with_optimizer`, and the state (epoch, step, best) when given. Returns the index.
  m.def("save_sharded", [](py::object group, const std::string& directory, const torch::Tensor& weight,
                           std::optional<torch::Tensor> bias, std::optional<std::tuple<int64_t, int64_t, double>> state,
                           const std::string& name, bool with_optimizer) {
    const ts::DistributedOptions o = options_of(group, {"weight"}, 0);
    py::gil_scoped_release release;
    return guarded([&] {
      auto module = make_module(weight, bias, bias ? bias->numel() : 0);
      torch::optim::SGD optimizer(module->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
      if (with_optimizer) {
        for (auto& p : module->parameters()) p.mutable_grad() = torch::ones_like(p);
        optimizer.step();  // momentum buffers: optimizer state in the shard
        torch::NoGradGuard no_grad;
        module->named_parameters()["weight"].copy_(weight);
        if (bias) module->named_parameters()["head.bias"].copy_(*bias);
      }
      std::optional<ts::TrainingState> s;
      if (state) s = ts::TrainingState{std::get<0>(*state), std::get<1>(*state), std::get<2>(*state)};
      return ts::save_sharded_checkpoint(o, directory, *module, with_optimizer ? &optimizer : nullptr,
                                         s ? &*s : nullptr, name);
    });
  }, py::arg("group"), py::arg("directory"), py::arg("weight"), py::arg("bias"), py::arg("state"), py::arg("name"),
     py::arg("with_optimizer") = false);

  // load_sharded_checkpoint into make_module(weight, bias) (the initial values). Returns {"error":
  // the Error's text or None, "weight", "bias", "count": the module's tensors afterwards, "state"}.
  m.def("load_sharded", [](py::object group, const std::string& directory, const torch::Tensor& weight,
                           std::optional<torch::Tensor> bias, const std::string& name) {
    const ts::DistributedOptions o = options_of(group, {"weight"}, 0);
    auto module = make_module(weight, bias, -1);  // the saved count is the bias's size
    torch::optim::SGD optimizer(module->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
    std::optional<ts::TrainingState> state;
    std::string error;
    {
      py::gil_scoped_release release;
      try {
        state = ts::load_sharded_checkpoint(o, directory, *module, &optimizer, name);
      } catch (const ts::Error& e) {
        error = std::string("trainscope::Error: ") + e.what();
      }
    }
    py::dict d;
    d["error"] = error.empty() ? py::object(py::none()) : py::object(py::str(error));
    auto params = module->named_parameters();
    d["weight"] = params["weight"].detach().clone();
    if (bias) {
      d["bias"] = params["head.bias"].detach().clone();
      d["count"] = module->named_buffers()["head.count"].clone();
    }
    d["state"] = state ? py::object(py::make_tuple(state->epoch, state->step, state->best)) : py::object(py::none());
    return d;
  });

  // The save's test seam (distributed/sharded_checkpoint.h): at `stage`, `action` is "unlink" (the
  // file vanishes, as on a filesystem rank 0 does not share), "append" (one byte more: another
  // file at the same path), "throw", or "exit" (the process dies there). "" removes the hook.
  m.def("set_save_hook", [](const std::string& stage, const std::string& action) {
    if (action.empty()) return ts::distributed_detail::set_save_hook(nullptr);
    ts::distributed_detail::set_save_hook([stage, action](const std::string& at, const std::string& path) {
      if (at != stage) return;
      if (action == "unlink") ::unlink(path.c_str());
      if (action == "append") std::ofstream(path, std::ios::app | std::ios::binary) << 'x';
      if (action == "throw") throw ts::Error("test hook: failure at " + at);
      if (action == "exit") ::_exit(17);
    });
  });
}
