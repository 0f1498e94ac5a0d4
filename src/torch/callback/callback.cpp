#include "trainscope/torch/callback.h"

#include <unistd.h>

#include <fstream>
#include <iostream>
#include <mutex>

#include "torch/callback/policy.h"
#include "torch/callback/rank_hooks.h"
#include "torch/histogram_pool.h"
#include "torch/host_copy.h"
#include "torch/callback/progress.h"
#include "torch/callback/resume_best.h"
#include "torch/callback/validation_media.h"
#include "torch/distributed/sharded_checkpoint.h"
#include "trainscope/error.h"
#include "trainscope/ops/histogram.h"
#include "torch/callback/upload_hook.h"

namespace trainscope {

double Metric::read() const {
  if (!is_tensor()) return value_;
  if (tensor_.numel() != 1) throw Error("Metric: tensor: expected a scalar (one element), got " + std::to_string(tensor_.numel()));
  return tensor_.detach().to(torch::kDouble).item<double>();
}

struct Callback::Impl {
  CallbackOptions options;
  std::shared_ptr<Run> run;
  bool owns_run = false;
  std::shared_ptr<torch::nn::Module> module;
  Forward forward;
  torch::optim::Optimizer* optimizer = nullptr;
  std::map<std::string, ConfigValue> params;

  detail::BestTracker best{detail::Mode::Min};
  detail::DataType input_type = detail::DataType::Auto, output_type = detail::DataType::Auto;
  bool began = false, ended = false, monitor_warned = false, histogram_skip_warned = false, examples_warned = false;
  int64_t last_step = -1, last_epoch = -1;
  std::shared_ptr<detail::PlanPool> weight_pool, gradient_pool;  // sized by histogram_bins
  std::unique_ptr<Logger> logger;  // Callback::log
  // The step rows go to (docs/callback.md#steps): the user's batch step; an epoch row lands on the
  // last batch step of its epoch, or the next step when no batch came since the previous epoch.
  std::optional<int64_t> epoch_step;
  std::vector<std::unique_ptr<PendingPart>> pending_gradients;
  std::optional<double> gflops;

  std::unique_ptr<LiveUpload> live;  // W&B upload per options.upload
  std::unique_ptr<detail::OutputLog> output_log;  // <run>/output.log: the console lines

  void warn(const std::string& message) {
    if (output_log) output_log->append("warning: " + message);
    if (options.warn) options.warn(message);
    else std::cerr << "[trainscope] warning: " << message << "\n";
  }

  // What a user of the run needs to know, at start and at end (options.log silences or redirects).
  void say(const std::string& message) {
    if (output_log) output_log->append(message);
    if (options.log) options.log(message);
    else std::cout << "[trainscope] " << message << std::endl;
  }

  std::shared_ptr<detail::LastScalars> last_scalars;
  std::unique_ptr<detail::Progress> progress;

  void start_progress() {
    if (!options.progress.enabled || progress) return;
    last_scalars = std::make_shared<detail::LastScalars>();
    run->add_sink(last_scalars);
    detail::ProgressSettings settings;
    settings.batches_per_epoch = options.progress.batches_per_epoch;
    settings.epochs = options.progress.epochs;
    settings.interval_seconds = options.progress.interval_seconds;
    bool terminal = !options.log && ::isatty(STDOUT_FILENO);
    if (!terminal) settings.interval_seconds = std::max(settings.interval_seconds, 1e-9);
    progress = std::make_unique<detail::Progress>(settings, last_scalars, [this, terminal](const std::string& line, bool transient) {
      if (!terminal) return say(line);
      if (!transient && output_log) output_log->append(line);
      std::cout << "\r[trainscope] " << line << "\033[K" << (transient ? "" : "\n") << std::flush;
    });
  }

  void progress_batch(int64_t step, const Metrics& metrics) {
    if (!progress) return;
    std::vector<std::string> keys;
    for (const auto& entry : metrics) keys.push_back(entry.first);
    progress->batch(step, keys);
  }

  void progress_epoch(int64_t epoch) {
    if (progress) progress->epoch_end(epoch);
  }

  std::shared_ptr<TensorBoardSink> tensorboard;  // the sink this callback made, if any

  // set_params → TensorBoard's HParams tab, judged by the monitored metric.
  void share_hparams() {
    if (tensorboard && !params.empty() && run) tensorboard->set_hparams(params, {options.monitor}, run->group());
  }

  // Rank 0 writes; the other ranks of a process group take part in the collectives only.
  bool rank0() const { return is_rank0(options.distributed); }

  Run& ensure_run() {
    if (!rank0())
      throw Error("Callback: rank " + std::to_string(rank(options.distributed)) + " of " +
                  std::to_string(world_size(options.distributed)) +
                  " has no run: rank 0 writes the run directory (docs/distributed.md)");
    if (!run) {
      run = std::make_shared<Run>(options.run);
      owns_run = true;
      if (options.tensorboard) {
        TensorBoardOptions tb = options.tensorboard_options;
        tb.omitted_keys.insert("epoch");  // the row's counter: TensorBoard plots against the step
        tensorboard = std::make_shared<TensorBoardSink>(tensorboard_log_dir(run->directory()), tb);
        run->add_sink(tensorboard);
      }
    }
    return *run;
  }

  std::string best_key(const std::string& name) const { return *options.log_best_prefix + name; }

  std::unique_ptr<PendingPart> capture_histograms(const std::shared_ptr<detail::PlanPool>& pool, const std::string& prefix,
                                                  const std::vector<std::pair<std::string, torch::Tensor>>& named) {
    std::vector<std::pair<std::string, torch::Tensor>> keyed;
    for (const auto& [name, tensor] : named) keyed.emplace_back(prefix + name, tensor);
    bool skipped = false;
    auto part = detail::enqueue_histograms(pool, keyed, &skipped);
    if (skipped && !histogram_skip_warned) {
      warn("the run's writer is behind; skipping histograms until it catches up");
      histogram_skip_warned = true;
    }
    return part;
  }

  // Builds one plan for each histogram list ahead of the first logging step, so that step (which
  // may run inside a captured region) never allocates device or pinned memory. Gradients are
  // expected for every parameter that requires one.
  void prepare_histogram_plans() {
    if (!module) return;
    if (!rank0()) return;  // replicated tensors are histogrammed on rank 0 only
    auto prepare = [&](detail::PlanPool& pool, bool gradients) {
      std::vector<torch::Tensor> tensors;
      for (const auto& p : module->named_parameters())
        if ((!gradients || p.value().requires_grad()) && !detail::is_sharded_tensor(options.distributed, p.key()))
          tensors.push_back(p.value().detach());
      pool.prepare(tensors);
    };
    if (options.log_weights) prepare(*weight_pool, false);
    if (options.log_gradients) prepare(*gradient_pool, true);
  }

  void release_retired_plans() {
    weight_pool->release_retired();
    gradient_pool->release_retired();
  }

  // Sharded tensors across ranks (a collective on every rank), replicated ones on rank 0 only.
  void histograms(const std::shared_ptr<detail::PlanPool>& pool, const std::string& prefix,
                  const detail::NamedTensors& named, std::vector<std::unique_ptr<PendingPart>>& parts) {
    auto [sharded, replicated] = detail::split_sharded(options.distributed, named);
    attach(parts, detail::sharded_histograms(options.distributed, prefix, sharded, options.histogram_bins));
    if (rank0()) attach(parts, capture_histograms(pool, prefix, replicated));
  }

  void weight_histograms(std::vector<std::unique_ptr<PendingPart>>& parts) {
    detail::NamedTensors named;
    for (const auto& p : module->named_parameters()) named.emplace_back(p.key(), p.value());
    histograms(weight_pool, "parameters/", named, parts);
  }

  void gradient_histograms(std::vector<std::unique_ptr<PendingPart>>& parts) {
    detail::NamedTensors named;
    for (const auto& p : module->named_parameters())
      if (p.value().grad().defined()) named.emplace_back(p.key(), p.value().grad());
    histograms(gradient_pool, "gradients/", named, parts);
  }

  static void check_metric(const std::string& key, const Metric& metric) {
    if (metric.is_undefined_tensor())
      throw Error("Callback: metric '" + key + "': the tensor is undefined (never computed?); expected a scalar tensor or a number");
    if (metric.is_tensor() && metric.tensor().numel() != 1)
      throw Error("Callback: metric '" + key + "': expected a scalar tensor, got " + std::to_string(metric.tensor().numel()) + " elements");
  }

  // With log_batch_frequency 0, batch metrics are averaged over the epoch and logged with the
  // epoch's row, as Keras's epoch logs are. Device values are summed on their device (no sync).
  struct BatchAverages {
    std::map<std::string, torch::Tensor> device_sums;
    std::map<std::string, double> host_sums;
    std::map<std::string, int64_t> counts;
  } batch_averages;

  void accumulate_batch_metrics(const Metrics& metrics) {
    for (const auto& [key, metric] : metrics) {
      check_metric(key, metric);
      if (metric.is_tensor()) {
        auto value = metric.tensor().detach().reshape({}).to(torch::kDouble);
        auto& sum = batch_averages.device_sums[key];
        sum = sum.defined() ? sum + value : value.clone();
      } else {
        batch_averages.host_sums[key] += metric.value();
      }
      ++batch_averages.counts[key];
    }
  }

  // The epoch's averages of the batch metrics, for keys the epoch metrics do not set themselves.
  Metrics take_batch_averages(const Metrics& epoch_metrics) {
    Metrics averages;
    for (const auto& [key, count] : batch_averages.counts) {
      if (epoch_metrics.count(key)) continue;
      const auto device = batch_averages.device_sums.find(key);
      if (device != batch_averages.device_sums.end()) {
        averages.emplace(key, Metric(device->second / double(count)));
      } else {
        averages.emplace(key, Metric(batch_averages.host_sums[key] / double(count)));
      }
    }
    batch_averages = {};
    return averages;
  }

  // Host metrics go into the record; tensor metrics into one asynchronous copy.
  void add_metrics(const Metrics& metrics, StepRecord& record, std::vector<std::unique_ptr<PendingPart>>& parts) {
    detail::HostTensors device;
    for (const auto& [key, metric] : metrics) {
      check_metric(key, metric);
      if (!metric.is_tensor()) {
        record.scalars[key] = metric.value();
        continue;
      }
      device[key] = metric.tensor().detach().reshape({}).to(torch::kDouble);
    }
    if (device.empty()) return;
    parts.push_back(std::make_unique<detail::HostCopyPart>(device, [](const detail::HostTensors& host, StepRecord& r) {
      for (const auto& [key, value] : host) r.scalars[key] = value.item<double>();
    }));
  }

  void attach(std::vector<std::unique_ptr<PendingPart>>& parts, std::unique_ptr<PendingPart> part) {
    if (part) parts.push_back(std::move(part));
  }

  std::pair<torch::Tensor, torch::Tensor> validation_batch() {
    if (options.validation_inputs.defined()) return {options.validation_inputs, options.validation_targets};
    if (!options.generator) return {};
    std::vector<torch::Tensor> inputs, targets;
    for (int i = 0; i < std::max(1, options.validation_steps); ++i) {
      auto [x, y] = options.generator();
      if (!x.defined()) break;
      inputs.push_back(x);
      if (y.defined()) targets.push_back(y);
    }
    if (inputs.empty()) return {};
    return {torch::cat(inputs), targets.size() == inputs.size() ? torch::cat(targets) : torch::Tensor()};
  }

  torch::Tensor predict(const torch::Tensor& inputs) {
    bool was_training = module->is_training();
    module->eval();
    torch::Tensor outputs;
    {
      torch::NoGradGuard no_grad;
      outputs = forward(inputs);
    }
    module->train(was_training);
    return outputs;
  }

  detail::DataType resolved(detail::DataType type, const torch::Tensor& batch) const {
    return type == detail::DataType::Auto ? detail::guess_data_type(batch.sizes().vec()) : type;
  }

  void add_validation_media(bool examples, bool evaluation, std::vector<std::unique_ptr<PendingPart>>& parts) {
    if (!module || !forward || (!examples && !evaluation)) return;
    auto [inputs, targets] = validation_batch();
    if (!inputs.defined() || inputs.size(0) == 0) return;
    if (targets.defined() && targets.size(0) != inputs.size(0))
      throw Error("Callback: validation targets: expected " + std::to_string(inputs.size(0)) +
                  " rows like the inputs, got " + std::to_string(targets.size(0)));
    int64_t shown = std::min<int64_t>(inputs.size(0), detail::clamp_predictions(options.predictions));
    if (evaluation) {
      auto outputs = predict(inputs);
      attach(parts, detail::evaluation_table(inputs, targets, outputs, options, "evaluation"));
      if (examples && shown > 0)
        attach_examples(parts, inputs.narrow(0, 0, shown), targets.defined() ? targets.narrow(0, 0, shown) : targets,
                        outputs.narrow(0, 0, shown));
      return;
    }
    if (shown == 0) return;
    auto x = inputs.narrow(0, 0, shown);
    auto y = targets.defined() ? targets.narrow(0, 0, shown) : targets;
    attach_examples(parts, x, y, predict(x));
  }

  // Prediction examples need an image on one side; label → label data has none, which is said
  // once rather than leaving the run silently without examples.
  void attach_examples(std::vector<std::unique_ptr<PendingPart>>& parts, const torch::Tensor& inputs,
                       const torch::Tensor& targets, const torch::Tensor& outputs) {
    const auto in = resolved(input_type, inputs), out = resolved(output_type, outputs);
    auto part = detail::prediction_examples(inputs, targets, outputs, in, out, options, "examples");
    if (!part && !examples_warned) {
      warn(std::string("no prediction examples: input type '") + detail::data_type_name(in) + "' (shape " +
           shape_text(inputs) + ") and output type '" + detail::data_type_name(out) + "' (shape " +
           shape_text(outputs) + ") hold no image to show; set input_type/output_type, or predictions = 0");
      examples_warned = true;
    }
    attach(parts, std::move(part));
  }

  static std::string shape_text(const torch::Tensor& t) {
    std::string text = "[";
    for (int64_t d = 0; d < t.dim(); ++d) text += (d ? ", " : "") + std::to_string(t.size(d));
    return text + "]";
  }

  // Called on every rank: a sharded checkpoint is a collective (docs/distributed.md#checkpoints);
  // otherwise rank 0 saves the (replicated) module alone.
  void save_best(int64_t epoch, double value) {
    if (!options.save_model || !module) return;
    if (distributed_detail::saves_sharded(options.distributed, module.get())) {
      const TrainingState state{epoch, last_step, value};
      save_sharded_checkpoint(options.distributed, rank0() ? run->path("checkpoints") : std::string(), *module,
                              options.save_weights_only ? nullptr : optimizer,
                              options.save_weights_only ? nullptr : &state, distributed_detail::best_checkpoint_name());
      return;
    }
    if (!rank0()) return;
    std::string path = run->path("checkpoints/model-best.pt");
    if (options.save_weights_only) {
      save_checkpoint(path, *module);
    } else {
      save_checkpoint(path, *module, optimizer, TrainingState{epoch, last_step, value});
    }
  }
};

Callback::Callback(CallbackOptions options, std::shared_ptr<Run> run) : impl_(std::make_unique<Impl>()) {
  if (options.histogram_bins < 1 || options.histogram_bins > kMaxHistogramBins)
    throw Error("CallbackOptions: histogram_bins: expected 1.." + std::to_string(kMaxHistogramBins) + ", got " +
                std::to_string(options.histogram_bins));
  if (options.histogram_frequency < 0)
    throw Error("CallbackOptions: histogram_frequency: expected ≥ 0 batches, got " + std::to_string(options.histogram_frequency));
  if (options.log_evaluation_frequency < 0)
    throw Error("CallbackOptions: log_evaluation_frequency: expected ≥ 0 epochs, got " + std::to_string(options.log_evaluation_frequency));
  if (options.monitor.empty()) throw Error("CallbackOptions: monitor: expected a metric name");
  impl_->input_type = options.input_type;
  impl_->output_type = options.output_type;
  if (!options.class_colors.empty()) Palette::from_class_colors(options.class_colors);  // validates now
  impl_->options = std::move(options);
  impl_->best = detail::BestTracker(detail::resolve_mode(impl_->options.mode, impl_->options.monitor));
  impl_->run = std::move(run);
  impl_->weight_pool = std::make_shared<detail::PlanPool>(impl_->options.histogram_bins);
  impl_->gradient_pool = std::make_shared<detail::PlanPool>(impl_->options.histogram_bins);
}

Callback::~Callback() {
  if (impl_->began && !impl_->ended) {
    try {
      on_train_end();
    } catch (...) {
    }
  }
}

void Callback::set_model(std::shared_ptr<torch::nn::Module> module, Forward forward) {
  if (!module) throw Error("Callback::set_model: module: expected a module");
  impl_->module = std::move(module);
  impl_->forward = std::move(forward);
}

void Callback::set_optimizer(torch::optim::Optimizer* optimizer) { impl_->optimizer = optimizer; }

void Callback::set_params(const std::map<std::string, ConfigValue>& params) {
  for (const auto& [key, value] : params) impl_->params[key] = value;
  if (impl_->began && impl_->run) {
    impl_->run->set_config(params);
    impl_->share_hparams();
  }
}

Run& Callback::run() { return impl_->ensure_run(); }

int64_t Callback::log(const LogValues& values, std::optional<int64_t> step, std::optional<bool> commit) {
  Impl& s = *impl_;
  if (!s.rank0()) return -1;  // rank 0 logs (reduce values first: trainscope::reduce_metrics)
  s.ensure_run();
  if (!s.logger) s.logger = std::make_unique<Logger>(s.run, [&s](const std::string& m) { s.warn(m); });
  return s.logger->log(values, step, commit);
}

void Callback::on_train_begin() {
  Impl& s = *impl_;
  s.began = true;
  s.ended = false;
  if (!s.rank0()) {
    detail::share_best(s.options.distributed, s.best);  // rank 0 calls it once its best is restored
    return;
  }
  const CallbackOptions& o = s.options;
  // Until the best is shared, a failure here is handed to the other ranks (they would otherwise
  // wait in share_best for the group's timeout).
  Run* opened = nullptr;
  try {
    Run& run = s.ensure_run();
    opened = &run;
    std::map<std::string, ConfigValue> config = s.params;
    config["trainscope.monitor"] = o.monitor;
    config["trainscope.mode"] = std::string(s.best.mode() == detail::Mode::Max ? "max" : "min");
    config["trainscope.input_type"] = std::string(to_string(o.input_type));
    config["trainscope.output_type"] = std::string(to_string(o.output_type));
    config["trainscope.log_batch_frequency"] = int64_t(o.log_batch_frequency);
    config["trainscope.histogram_frequency"] = int64_t(o.histogram_frequency);
    run.set_config(config);
    // The epoch counter is the row's bookkeeping, not a result: hidden from W&B's charts unless the
    // program defined it otherwise.
    if (!run.metric_definition("epoch")) {
      MetricDefinition epoch;
      epoch.hidden = true;
      run.define_metric("epoch", epoch);
    }
    s.share_hparams();
    if (!s.best.best() && run.resumed()) detail::restore_best(run, o, s.best);  // continues from its best
  } catch (const std::exception& e) {
    if (is_distributed(o.distributed)) detail::share_best(o.distributed, s.best, e.what());
    throw;
  }
  detail::share_best(o.distributed, s.best);
  Run& run = *opened;
  if (s.module && o.save_graph) run.write_graph(module_graph_json(*s.module));
  if (s.module && o.compute_flops) run.set_summary("GFLOPs", get_flops());
  s.prepare_histogram_plans();
  if (!s.output_log) s.output_log = std::make_unique<detail::OutputLog>(run.path("output.log"));
  if (!s.live) s.live = detail::start_upload(run.directory(), o.upload, [&s](const std::string& m) { s.warn(m); });
  s.start_progress();
  s.say("run " + run.directory() +
        (o.tensorboard ? "; TensorBoard: tensorboard --logdir " + tensorboard_log_dir(run.directory()) : "") +
        detail::upload_start_text(*s.live));
}

void Callback::after_backward() {
  Impl& s = *impl_;
  if (!s.module || !s.options.log_gradients || s.options.histogram_frequency <= 0) return;
  if (!detail::batch_is_due(s.last_step + 2, s.options.histogram_frequency)) return;  // batch in progress: last_step + 1
  s.gradient_histograms(s.pending_gradients);
}

void Callback::on_batch_end(int64_t step, const Metrics& metrics) {
  Impl& s = *impl_;
  if (step < 0) throw Error("Callback::on_batch_end: step: expected the global batch step ≥ 0, got " + std::to_string(step));
  s.last_step = step;
  s.epoch_step = step;
  if (s.options.log_batch_frequency == 0) s.accumulate_batch_metrics(metrics);
  bool metrics_due = detail::batch_is_due(step + 1, s.options.log_batch_frequency);
  bool histograms_due = detail::batch_is_due(step + 1, s.options.histogram_frequency) &&
                        s.module && (s.options.log_weights || !s.pending_gradients.empty());
  s.progress_batch(step, metrics);
  if (!metrics_due && !histograms_due) return;
  StepRecord record;
  std::vector<std::unique_ptr<PendingPart>> parts;
  // Under a group a bad metric is checked inside the reduction, where every rank learns of it.
  if (metrics_due) {
    Metrics reduced = detail::reduce_across_ranks(s.options.distributed, metrics);
    if (s.rank0()) s.add_metrics(reduced, record, parts);
  }
  if (histograms_due && s.options.log_weights) s.weight_histograms(parts);
  for (auto& part : s.pending_gradients) parts.push_back(std::move(part));
  s.pending_gradients.clear();
  if (!s.rank0()) return;
  // At the user's step; the row stays open so the epoch row of the same step merges into it.
  s.ensure_run().log(std::move(record), std::move(parts), step);
}

void Callback::on_epoch_end(int64_t epoch, const Metrics& local_metrics) {
  Impl& s = *impl_;
  const CallbackOptions& o = s.options;
  s.last_epoch = epoch;
  StepRecord record;
  std::vector<std::unique_ptr<PendingPart>> parts;
  record.scalars["epoch"] = static_cast<double>(epoch);
  // The epoch metrics and the batch averages, reduced across ranks in one collective.
  Metrics metrics = local_metrics;
  for (auto& [key, average] : s.take_batch_averages(local_metrics)) metrics.emplace(key, average);
  metrics = detail::reduce_across_ranks(o.distributed, metrics);
  if (s.rank0()) {
    s.ensure_run();
    s.add_metrics(metrics, record, parts);
  }

  auto monitored = metrics.find(o.monitor);
  if (monitored == metrics.end()) {
    if (!s.monitor_warned) s.warn("monitored metric '" + o.monitor + "' is not among the epoch metrics; no best tracking");
    s.monitor_warned = true;
  } else {
    // The one blocking read: the checkpoint decision needs it. Reduced, so every rank decides alike.
    double value = monitored->second.read();
    if (s.best.update(value, epoch)) {
      s.save_best(epoch, value);
      if (s.rank0() && o.log_best_prefix) {
        s.run->set_summary(s.best_key(o.monitor), value);
        s.run->set_summary(s.best_key("epoch"), epoch);
      }
    }
  }
  if (s.module && o.histogram_frequency == 0) {
    if (o.log_weights) s.weight_histograms(parts);
    if (o.log_gradients) s.gradient_histograms(parts);  // the last batch's, if still there
  }
  for (auto& part : s.pending_gradients) parts.push_back(std::move(part));
  s.pending_gradients.clear();
  if (!s.rank0()) {
    s.epoch_step.reset();
    return;
  }
  Run& run = s.ensure_run();
  bool evaluation = o.log_evaluation && detail::evaluation_is_due(epoch + 1, o.log_evaluation_frequency);
  s.add_validation_media(o.predictions > 0, evaluation, parts);
  if (s.epoch_step && *s.epoch_step >= run.next_step()) {
    run.log(std::move(record), std::move(parts), s.epoch_step);
  } else if (s.epoch_step) {
    // That step is written already (a flush): the epoch row joins the next row instead.
    run.log(std::move(record), std::move(parts), std::nullopt, false);
  } else {
    run.log(std::move(record), std::move(parts));  // no batch since the last epoch: the next step
  }
  s.epoch_step.reset();  // the next epoch row without batches goes to the next step
  s.progress_epoch(epoch);
  s.release_retired_plans();
}

void Callback::on_train_end() {
  Impl& s = *impl_;
  if (s.ended) return;
  s.ended = true;
  if (!s.rank0()) return;
  Run& run = s.ensure_run();
  const CallbackOptions& o = s.options;
  std::vector<std::unique_ptr<PendingPart>> parts;
  if (o.log_evaluation && o.log_evaluation_frequency == 0) s.add_validation_media(false, true, parts);
  for (auto& part : s.pending_gradients) parts.push_back(std::move(part));
  s.pending_gradients.clear();
  if (!parts.empty()) run.log(StepRecord{}, std::move(parts));  // the step after the last
  if (s.owns_run) run.finish();
  else run.flush();
  std::string end = "finished " + run.directory();
  if (s.best.best()) {
    end += "; best " + o.monitor + " " + std::to_string(*s.best.best()) + " at epoch " + std::to_string(s.best.best_epoch());
    if (o.save_model && s.module) end += ", checkpoint " + best_checkpoint_path();
  }
  // The end line reaches output.log before the final upload pass; the console line adds its result.
  if (s.output_log) s.output_log->append(end);
  s.output_log.reset();
  s.say(end + (s.live ? detail::finish_upload(*s.live, run.directory()) : std::string()));
  s.live.reset();
}

double Callback::get_flops() {
  Impl& s = *impl_;
  if (s.gflops) return *s.gflops;
  if (!s.module || !s.forward) throw Error("Callback::get_flops: no model (call set_model first)");
  torch::Tensor input = s.options.flops_input;
  if (!input.defined()) {
    auto [inputs, targets] = s.validation_batch();
    if (!inputs.defined()) throw Error("Callback::get_flops: flops_input: expected an example input (or validation data)");
    input = inputs.narrow(0, 0, 1);
  }
  bool was_training = s.module->is_training();
  s.module->eval();
  double flops = count_flops(s.forward, input);
  s.module->train(was_training);
  s.gflops = flops / 1e9;
  return *s.gflops;
}

std::optional<double> Callback::best() const { return impl_->best.best(); }
int64_t Callback::best_epoch() const { return impl_->best.best_epoch(); }
std::string Callback::best_checkpoint_path() const {
  return impl_->run ? impl_->run->path(distributed_detail::best_checkpoint_file(impl_->options.distributed, impl_->module.get())) : std::string();
}

}  // namespace trainscope
