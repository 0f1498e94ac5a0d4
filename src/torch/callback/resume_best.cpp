#include "torch/callback/resume_best.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "run/file_io.h"
#include "trainscope/error.h"

namespace trainscope::detail {
namespace {

struct Candidate {
  double value;
  int64_t epoch;
};

// The best value stored in a full checkpoint (weights-only ones carry none).
std::optional<Candidate> checkpoint_best(const std::string& path) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
    c10::IValue best, epoch;
    if (!archive.try_read("best", best) || !archive.try_read("epoch", epoch)) return std::nullopt;
    return Candidate{best.toDouble(), epoch.toInt()};
  } catch (const c10::Error&) {
    return std::nullopt;  // unreadable: the other records decide
  }
}

// The best value a sharded checkpoint's index records (docs/distributed.md#checkpoints).
std::optional<Candidate> sharded_index_best(const std::string& path) {
  const auto text = read_file_if_present(path);
  if (!text) return std::nullopt;
  const auto index = nlohmann::json::parse(*text, nullptr, false);
  if (!index.is_object() || !index.contains("state") || !index["state"].is_object()) return std::nullopt;
  const auto& state = index["state"];
  if (!state.contains("best") || !state["best"].is_number() || !state.contains("epoch") ||
      !state["epoch"].is_number_integer())
    return std::nullopt;
  return Candidate{state["best"].get<double>(), state["epoch"].get<int64_t>()};
}

}  // namespace

void restore_best(Run& run, const CallbackOptions& options, BestTracker& best) {
  const bool maximize = best.mode() == Mode::Max;
  std::optional<Candidate> chosen;
  auto consider = [&](std::optional<Candidate> c) {
    if (!c || std::isnan(c->value)) return;
    if (!chosen || (maximize ? c->value > chosen->value : c->value < chosen->value)) chosen = c;
  };
  if (options.log_best_prefix) {
    auto value = run.summary_number(*options.log_best_prefix + options.monitor);
    auto epoch = run.summary_number(*options.log_best_prefix + "epoch");
    if (value) consider(Candidate{*value, epoch ? static_cast<int64_t>(*epoch) : -1});
  }
  // Epoch-end rows only (they hold "epoch"): the tracker never saw per-batch values of the metric.
  if (auto row = run.history_best(options.monitor, maximize, "epoch")) consider(Candidate{row->value, row->epoch});
  const std::string checkpoint = run.path("checkpoints/model-best.pt");
  const std::string sharded_index = run.path("checkpoints/model-best.index.json");
  const bool have_sharded = file_exists(sharded_index);
  const bool have_checkpoint = file_exists(checkpoint) || have_sharded;
  if (file_exists(checkpoint) && !options.save_weights_only) consider(checkpoint_best(checkpoint));
  if (have_sharded && !options.save_weights_only) consider(sharded_index_best(sharded_index));
  if (!chosen) {
    if (have_checkpoint && options.save_model)
      throw Error("Callback::on_train_begin: resuming '" + run.directory() + "': " +
                  (have_sharded ? sharded_index : checkpoint) +
                  " exists but neither summary.json, history.jsonl nor the checkpoint records the best '" +
                  options.monitor + "' it was saved for; restore summary.json or move the checkpoint away");
    return;
  }
  best.restore(chosen->value, chosen->epoch);
  if (options.log_best_prefix) {  // repairs a summary that lost them
    run.set_summary(*options.log_best_prefix + options.monitor, chosen->value);
    run.set_summary(*options.log_best_prefix + "epoch", chosen->epoch);
  }
}

}  // namespace trainscope::detail
