// Data-parallel training on a c10d process group (docs/distributed.md): every rank trains the
// same model on its own shard of synthetic two-class data, gradients are averaged with one
// all-reduce per step, and trainscope's Callback (CallbackOptions::distributed) reduces the
// metrics, histograms the replicated weights once (rank 0), takes the best-model decision on the
// reduced validation accuracy, and a sharded activation is histogrammed exactly across ranks.
// Only rank 0 writes the run directory and the checkpoint.
//
// libtorch ships no Gloo headers, so the process group comes from Python: ddp_classifier.py
// spawns the ranks, creates the group with torch.distributed and calls train() below (this file
// is built as a torch extension).
#include <torch/extension.h>

#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>

#include <iostream>
#include <memory>
#include <optional>

#include <trainscope/torch/callback.h>
#include <trainscope/torch/distributed.h>

namespace py = pybind11;
namespace ts = trainscope;

namespace {

struct Net : torch::nn::Module {
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  Net() {
    fc1 = register_module("fc1", torch::nn::Linear(8, 32));
    fc2 = register_module("fc2", torch::nn::Linear(32, 2));
  }
  torch::Tensor hidden(const torch::Tensor& x) { return torch::relu(fc1->forward(x)); }
  torch::Tensor forward(const torch::Tensor& x) { return fc2->forward(hidden(x)); }
};

// This rank's shard of two Gaussian blobs in 8 dimensions.
std::pair<torch::Tensor, torch::Tensor> make_data(int count, int seed) {
  torch::manual_seed(seed);
  auto labels = torch::randint(0, 2, {count}, torch::kLong);
  auto x = torch::randn({count, 8}) * 1.5 + labels.unsqueeze(1).to(torch::kFloat) * 0.8;
  return {x, labels};
}

void wait(const c10::intrusive_ptr<::c10d::Work>& work) { work->wait(); }

// DDP by hand: rank 0's initial parameters everywhere, then gradients averaged each step.
void broadcast_parameters(::c10d::ProcessGroup& group, Net& model) {
  for (auto& p : model.parameters()) {
    std::vector<torch::Tensor> t{p.data()};
    wait(group.broadcast(t));
  }
}
void average_gradients(::c10d::ProcessGroup& group, Net& model) {
  std::vector<torch::Tensor> grads;
  for (auto& p : model.parameters()) grads.push_back(p.grad().reshape(-1));
  std::vector<torch::Tensor> flat{torch::cat(grads)};  // one packed all-reduce
  wait(group.allreduce(flat));
  flat[0].div_(group.getSize());
  int64_t offset = 0;
  for (auto& p : model.parameters()) {
    const int64_t n = p.numel();
    p.grad().copy_(flat[0].slice(0, offset, offset + n).view_as(p));
    offset += n;
  }
}

py::dict train(py::object group_object, const std::string& root, const std::string& run_id, int epochs) {
  ts::DistributedOptions dist;
  dist.group = py::cast<c10::intrusive_ptr<::c10d::ProcessGroup>>(group_object);
  dist.sharded = {"activations/hidden"};      // each rank's batch: a shard of one logical tensor
  dist.reduce = {{"samples", ts::Reduce::Sum}};  // others: mean over ranks
  py::gil_scoped_release release;
  const int rank = ts::rank(dist);

  torch::manual_seed(1);
  auto model = std::make_shared<Net>();
  broadcast_parameters(*dist.group, *model);
  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  auto [x, y] = make_data(512 + 64 * rank, 100 + rank);  // uneven shards
  auto [val_x, val_y] = make_data(256, 200 + rank);

  // The Callback under the group: metrics reduced across ranks, the best-model decision taken on
  // the reduced val_acc (the same on every rank), rank 0 alone writes the run and checkpoint.
  constexpr int64_t kBatch = 32;
  ts::CallbackOptions options;
  options.monitor = "val_acc";
  options.log_weights = true;          // replicated (DDP): histogrammed once, on rank 0
  options.log_gradients = true;
  options.histogram_frequency = 4;
  options.log_batch_frequency = 4;
  options.predictions = 0;             // vectors → labels: no image to show
  options.run.root = root;
  options.run.run_id = run_id;
  options.distributed = dist;
  options.log = [rank](const std::string& line) {
    if (rank == 0) std::cout << "[trainscope] " << line << std::endl;
  };
  ts::Callback callback(options);
  callback.set_model(model);
  callback.set_optimizer(&optimizer);
  callback.set_params({{"world_size", int64_t(ts::world_size(dist))}, {"epochs", int64_t(epochs)}});
  callback.on_train_begin();

  std::vector<bool> improved;
  std::optional<double> best;
  for (int64_t epoch = 0, global_step = 0; epoch < epochs; ++epoch) {
    model->train();
    for (int64_t start = 0, step = 0; start + kBatch <= 512; start += kBatch, ++step, ++global_step) {  // same count on every rank
      auto xb = x.slice(0, start, start + kBatch), yb = y.slice(0, start, start + kBatch);
      optimizer.zero_grad();
      auto hidden = model->hidden(xb);
      auto loss = torch::cross_entropy_loss(model->fc2->forward(hidden), yb);
      loss.backward();
      average_gradients(*dist.group, *model);
      callback.after_backward();
      optimizer.step();
      callback.on_batch_end(global_step, {{"loss", loss.detach()}, {"samples", double(kBatch)}});
      if (step % 4 != 0) continue;
      // A tensor sharded across ranks (here each rank's activations): exact histogram of the whole.
      auto hists = ts::distributed_histograms(dist, {{"activations/hidden", hidden.detach()}});
      if (hists[0] && !hists[0]->counts.empty()) {
        const ts::HistogramResult& h = *hists[0];
        callback.log({{"activations/hidden", ts::HistogramValue{h.counts, h.edges, h.stats.count, h.stats.min,
                                                                h.stats.max, h.stats.sum, h.stats.sum_squares}}},
                     global_step);  // rank 0 logs; the other ranks' call does nothing
      }
    }
    torch::NoGradGuard no_grad;
    model->eval();
    auto val_acc = (model->forward(val_x).argmax(1) == val_y).to(torch::kDouble).mean();
    callback.on_epoch_end(epoch, {{"val_acc", val_acc}});  // this rank's accuracy; reduced inside
    improved.push_back(callback.best() != best);
    best = callback.best();
  }
  callback.on_train_end();
  const std::string directory = ts::is_rank0(dist) ? callback.run().directory() : std::string();
  py::gil_scoped_acquire acquire;
  py::dict out;
  out["rank"] = rank;
  out["run_dir"] = directory;
  out["best"] = best.value_or(-1.0);
  out["improved"] = improved;
  return out;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("train", &train); }
