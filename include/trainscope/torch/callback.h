#pragma once
// WandbCallback for libtorch training loops (docs/callback.md): metrics, weight/gradient histograms,
// prediction examples, evaluation tables, best-model checkpoints, graph and FLOPs, all recorded in
// a W&B-compatible run directory (trainscope/run/run.h). Link trainscope::torch.
//
//   trainscope::CallbackOptions options;            // every WandbCallback argument, see below
//   options.monitor = "val_loss"; options.log_gradients = true;
//   trainscope::Callback callback(options);
//   callback.set_model(model);  callback.set_optimizer(&optimizer);
//   callback.on_train_begin();
//   for (epoch ...) { for (batch ...) { loss.backward(); callback.after_backward();
//                                      optimizer.step(); callback.on_batch_end(step, {{"loss", loss}}); }
//                     callback.on_epoch_end(epoch, {{"val_loss", val_loss}}); }
//   callback.on_train_end();
#include <array>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "trainscope/run/run.h"
#include "trainscope/sinks/tensorboard.h"
#include "trainscope/torch.h"
#include "trainscope/torch/callback_types.h"
#include "trainscope/torch/distributed.h"
#include "trainscope/torch/log.h"
#include "trainscope/upload/live_upload.h"

namespace trainscope {

// A metric: a host number or a scalar tensor (any device). Device tensors are copied
// asynchronously and resolved on the run's writer thread: logging them never synchronises.
class Metric {
 public:
  Metric(double value) : value_(value) {}
  Metric(float value) : value_(value) {}
  Metric(int value) : value_(value) {}
  Metric(int64_t value) : value_(static_cast<double>(value)) {}
  Metric(torch::Tensor tensor) : tensor_(std::move(tensor)), from_tensor_(true) {}
  bool is_tensor() const { return tensor_.defined(); }
  // Made from a tensor that was never assigned: an Error when logged, never a 0.
  bool is_undefined_tensor() const { return from_tensor_ && !tensor_.defined(); }
  double value() const { return value_; }
  const torch::Tensor& tensor() const { return tensor_; }
  // The host value; blocks on a device tensor (used only for the monitored value).
  double read() const;

 private:
  double value_ = 0;
  torch::Tensor tensor_;
  bool from_tensor_ = false;
};
using Metrics = std::map<std::string, Metric>;

using TableRow = std::map<std::string, TableCell>;
// (index, row) → table cells. `row` holds one example's "input" and "target" (validation rows)
// or "output" and "target" (output rows) as CPU tensors. Called on the run's writer thread.
using RowProcessor = std::function<TableRow(int64_t index, const std::map<std::string, torch::Tensor>& row)>;
// A validation batch producer (the seed's `generator`): returns (inputs, targets).
using BatchGenerator = std::function<std::pair<torch::Tensor, torch::Tensor>()>;
using Forward = std::function<torch::Tensor(const torch::Tensor&)>;

struct CallbackOptions {
  std::string monitor = "val_loss";   // metric whose best value is tracked
  MonitorMode mode = MonitorMode::Auto;  // from text: monitor_mode_from_string (unknown → warning, auto)
  bool save_model = true;             // on improvement only: checkpoints/model-best.pt (sharded: model-best.index.json + shards, docs/distributed.md#checkpoints)
  bool save_weights_only = false;     // true: parameters + buffers; false: full training state
  bool save_graph = true;             // graph.json + summary "graph"
  bool log_weights = false;           // histograms "parameters/<name>"
  bool log_gradients = false;         // histograms "gradients/<name>", read in after_backward()
  // Histograms every N batches (like wandb.watch's log_freq), independent of metric logging;
  // 0: at each epoch end (weights only: gradients are gone by then).
  int histogram_frequency = 0;
  int histogram_bins = kDefaultHistogramBins;  // 1..kMaxHistogramBins (512)
  // training_data: not needed — after backward() the gradients exist; after_backward() reads them.
  torch::Tensor validation_inputs;    // validation_data (inputs, targets), batch dimension first
  torch::Tensor validation_targets;
  BatchGenerator generator;           // alternative to validation_inputs/targets
  int validation_steps = 1;           // batches drawn from `generator`
  std::vector<std::string> labels;    // class names (argmax index → caption)
  int predictions = 36;               // validation examples shown per epoch (clamped to 100)
  DataType input_type = DataType::Auto;  // from text: data_type_from_string
  DataType output_type = DataType::Auto;
  std::vector<std::array<float, 3>> class_colors;  // RGB in [0,1]; default Palette::default_for
  bool log_evaluation = false;        // evaluation table "evaluation"
  int log_evaluation_frequency = 0;   // every N epochs; 0: at the end of training only
  RowProcessor validation_row_processor;
  RowProcessor output_row_processor;  // the seed's prediction_row_processor
  bool infer_missing_processors = true;
  std::vector<std::string> validation_indexes;  // row keys linking rows to an existing table
  int log_batch_frequency = 0;        // 0 (None): log per epoch; N: training metrics every N batches
  std::optional<std::string> log_best_prefix = std::string("best_");  // nullopt: no best keys
  bool compute_flops = false;         // summary "GFLOPs" of one forward pass
  torch::Tensor flops_input;          // the forward pass's input; default: one validation example
  RunOptions run;                     // where and how the run directory is written
  // Data-parallel or sharded training (docs/distributed.md): with a process group, metrics are
  // reduced across ranks before logging and best tracking (every rank takes the same decision),
  // sharded parameters' histograms are computed across ranks, and only rank 0 writes the run
  // directory, checkpoints and TensorBoard files. Every rank calls every hook at the same steps.
  DistributedOptions distributed;
  // W&B upload (docs/upload.md#upload-modes): mode Online / Offline / Disabled, or Environment (the
  // default: WANDB_MODE, unset = offline), and the Uploader's options (project, entity, base URL,
  // key: empty ones from WANDB_PROJECT, WANDB_ENTITY, WANDB_BASE_URL, WANDB_API_KEY / netrc).
  // Online: uploaded while training runs, finished by on_train_end within
  // upload.finish_timeout_seconds; offline: `trainscope sync <run>` later.
  LiveUploadOptions upload;
  bool tensorboard = true;            // also write TensorBoard event files to <run>/tb/
  TensorBoardOptions tensorboard_options;
  std::function<void(const std::string&)> warn;  // default: stderr
  // One line at on_train_begin (run directory, TensorBoard command) and one at on_train_end (best
  // value and epoch, checkpoint, how to upload). Default: stdout; an empty-bodied function silences.
  std::function<void(const std::string&)> log;
  // A progress line per batch (epoch, batch, rate, ETA, last written metrics) through `log`: on a
  // terminal (default `log`) one line rewritten in place, else plain lines at most one per
  // interval, and one line at each epoch end. Off by default.
  struct Progress {
    bool enabled = false;
    int64_t batches_per_epoch = 0;  // for the ETA; 0: unknown
    int64_t epochs = 0;             // 0: unknown
    double interval_seconds = 1.0;
  } progress;
};

// What a full checkpoint holds besides the model's and optimizer's tensors.
struct TrainingState {
  int64_t epoch = -1;
  int64_t step = -1;
  double best = 0;
};

// Checkpoint files, written to "<path>.tmp-<pid>", fsynced and renamed over `path`: a kill at any
// moment leaves the previous complete file. With a null `optimizer` and `state` the file holds
// only parameters and buffers (loadable with torch::load(module, path) too).
void save_checkpoint(const std::string& path, torch::nn::Module& module,
                     const torch::optim::Optimizer* optimizer = nullptr,
                     const std::optional<TrainingState>& state = std::nullopt);
// Loads what save_checkpoint() wrote into `module` (and `optimizer`); returns the state of a full
// checkpoint, nullopt for a weights-only file.
std::optional<TrainingState> load_checkpoint(const std::string& path, torch::nn::Module& module,
                                             torch::optim::Optimizer* optimizer = nullptr);

// Forward-pass FLOPs, counted per ATen operator while `forward(input)` runs (multiply-add = 2):
// convolution 2·|out|·Cin/groups·k…, (add)mm 2·n·k·m, bmm 2·b·n·k·m. Elementwise ops, pooling and
// normalisation are not counted (they are small next to convolutions and matrix products).
double count_flops(const Forward& forward, const torch::Tensor& input);

// The module tree as graph.json text: nodes (name, class, own parameter shapes and counts), edges
// parent → child, total parameter count.
std::string module_graph_json(const torch::nn::Module& module);

class Callback {
 public:
  explicit Callback(CallbackOptions options = {}, std::shared_ptr<Run> run = nullptr);
  ~Callback();
  Callback(const Callback&) = delete;
  Callback& operator=(const Callback&) = delete;

  void set_model(std::shared_ptr<torch::nn::Module> module, Forward forward);
  template <typename Module>
  void set_model(const std::shared_ptr<Module>& module) {
    set_model(std::static_pointer_cast<torch::nn::Module>(module),
              [module](const torch::Tensor& x) { return module->forward(x); });
  }
  template <typename Impl>
  void set_model(const torch::nn::ModuleHolder<Impl>& holder) {
    set_model(holder.ptr());
  }
  void set_optimizer(torch::optim::Optimizer* optimizer);  // for full checkpoints
  void set_params(const std::map<std::string, ConfigValue>& params);  // → config.json

  void on_train_begin();
  void after_backward();  // gradients ready, before optimizer.step()
  void on_batch_end(int64_t step, const Metrics& metrics);
  void on_epoch_end(int64_t epoch, const Metrics& metrics);
  void on_train_end();

  // wandb.log / SummaryWriter at any step (Logger::log, trainscope/torch/log.h), into this
  // callback's run: its rows and the hooks' rows follow the same step rules and merge at a step.
  int64_t log(const LogValues& values, std::optional<int64_t> step = std::nullopt,
              std::optional<bool> commit = std::nullopt);

  double get_flops();  // GFLOPs of one forward pass (needs a model and an input)
  Run& run();
  std::optional<double> best() const;
  int64_t best_epoch() const;
  std::string best_checkpoint_path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace trainscope
