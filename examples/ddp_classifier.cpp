// Data-parallel training on a c10d process group (docs/distributed.md): every rank trains the
// same model on its own shard of synthetic two-class data, gradients are averaged with one
// all-reduce per step, and trainscope reduces the metrics, histograms the replicated weights once
// (rank 0) and a sharded activation exactly across ranks, and takes the best-model decision on
// the reduced validation accuracy. Only rank 0 writes the run directory and the checkpoint.
//
// libtorch ships no Gloo headers, so the process group comes from Python: ddp_classifier.py
// spawns the ranks, creates the group with torch.distributed and calls train() below (this file
// is built as a torch extension).
#include <torch/extension.h>

#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>

#include <cmath>
#include <memory>

#include <trainscope/run/run.h>
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

ts::HistogramValue value_of(const ts::HistogramResult& h) {
  return {h.counts, h.edges, h.stats.count, h.stats.min, h.stats.max, h.stats.sum, h.stats.sum_squares};
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

  std::unique_ptr<ts::Run> run;  // rank 0 alone writes
  if (ts::is_rank0(dist)) {
    ts::RunOptions options;
    options.root = root;
    options.run_id = run_id;
    run = std::make_unique<ts::Run>(options);
    run->set_config({{"world_size", int64_t(ts::world_size(dist))}, {"epochs", int64_t(epochs)}});
  }

  constexpr int64_t kBatch = 32;
  double best = -1;
  std::vector<bool> improved;
  for (int epoch = 0; epoch < epochs; ++epoch) {
    model->train();
    for (int64_t start = 0, step = 0; start + kBatch <= 512; start += kBatch, ++step) {  // same count on every rank
      auto xb = x.slice(0, start, start + kBatch), yb = y.slice(0, start, start + kBatch);
      optimizer.zero_grad();
      auto hidden = model->hidden(xb);
      auto loss = torch::cross_entropy_loss(model->fc2->forward(hidden), yb);
      loss.backward();
      average_gradients(*dist.group, *model);
      optimizer.step();
      if (step % 4 != 0) continue;
      // Collectives: every rank, same order.
      auto metrics = ts::reduce_metrics(dist, {{"loss", loss.detach()}, {"samples", torch::scalar_tensor(double(kBatch))}});
      auto hists = ts::distributed_histograms(
          dist, {{"parameters/fc1.weight", model->fc1->weight.detach()}, {"activations/hidden", hidden.detach()}});
      if (!run) continue;
      ts::StepRecord record;
      for (const auto& [name, value] : metrics) record.scalars[name] = value.item<double>();
      record.scalars["epoch"] = epoch;
      if (hists[0]) record.histograms["parameters/fc1.weight"] = value_of(*hists[0]);
      if (hists[1] && !hists[1]->counts.empty()) record.histograms["activations/hidden"] = value_of(*hists[1]);
      run->commit(std::move(record));
    }
    // The monitored value is reduced first: every rank takes the same decision.
    torch::NoGradGuard no_grad;
    model->eval();
    const double local_acc = (model->forward(val_x).argmax(1) == val_y).to(torch::kDouble).mean().item<double>();
    const double val_acc = ts::reduce_value(dist, "val_acc", local_acc);
    improved.push_back(val_acc > best);
    if (val_acc > best) {
      best = val_acc;
      if (run) torch::save(std::static_pointer_cast<torch::nn::Module>(model), run->path("checkpoints/model-best.pt"));
    }
    if (run) {
      ts::StepRecord record;
      record.scalars["val_acc"] = val_acc;
      record.scalars["epoch"] = epoch;
      run->commit(std::move(record));
      run->set_summary("best_val_acc", best);
    }
  }
  std::string directory;
  if (run) {
    run->finish();
    directory = run->directory();
  }
  py::gil_scoped_acquire acquire;
  py::dict out;
  out["rank"] = rank;
  out["run_dir"] = directory;
  out["best"] = best;
  out["improved"] = improved;
  return out;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("train", &train); }
