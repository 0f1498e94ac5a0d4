#pragma once
// A run directory (docs/run-directory.md): runs/<run-id>/ with config.json, history.jsonl, summary.json, media/,
// checkpoints/ and graph.json, in W&B-compatible JSON. Run::commit() only enqueues; one writer
// thread resolves deferred device results, builds the history row, encodes PNGs, appends
// history.jsonl, replaces summary.json atomically and feeds the registered sinks.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "trainscope/run/record.h"

namespace trainscope {

// When written data is forced to disk. Lines are always appended whole (one write per line; a
// write that fails part-way, e.g. disk full, is cut off again) and whole files are always replaced
// through temp file + rename, so a killed process never leaves a torn file; fsync only adds
// durability against power loss.
struct DurabilityPolicy {
  int summary_every_steps = 1;   // replace summary.json every N committed steps (≥ 1)
  int fsync_every_steps = 0;     // fsync history.jsonl every N steps; 0: only at flush()/finish()
  bool fsync_replaced_files = true;  // fsync temp files (and the directory) before/after rename
};

struct RunOptions {
  std::string root = "runs";     // parent folder of run directories
  std::string run_id;            // empty: a new id from the time and process id
  std::string directory;         // non-empty: use exactly this directory (overrides root/run_id)
  bool resume = true;            // an existing directory continues its _step and summary
  std::size_t queue_capacity = 256;  // committed steps waiting for the writer; commit blocks when full
  DurabilityPolicy durability;
  // The run's identity, W&B's wandb.init fields (kept in run.json, sent with the run on upload).
  // On resume an empty field keeps the recorded value; a given one replaces it.
  std::string name;               // display name (W&B: the run's name in the UI)
  std::vector<std::string> tags;  // labels to filter runs by
  std::string notes;              // free text describing the run
  std::string group;              // runs of one experiment (W&B group, TensorBoard HParams group)
  std::string job_type;           // e.g. "train", "eval"
};

// W&B's define_metric (docs/run-directory.md#metric-definitions): which summary a metric keeps
// in summary.json, its goal, and the metric that is its x-axis in W&B's charts.
struct MetricSummary {
  bool min = false, max = false, mean = false, last = false, first = false;
  bool none = false;  // no summary entry at all
};
enum class MetricGoal { Unset, Minimize, Maximize };
struct MetricDefinition {
  std::string step_metric;  // the metric W&B plots this one against (empty: _step)
  bool step_sync = false;   // rows with this metric but not step_metric get step_metric's last value
  bool hidden = false;      // W&B hides the metric's charts
  MetricSummary summary;    // nothing set: the last value, as for undefined metrics
  MetricGoal goal = MetricGoal::Unset;
};

using ConfigValue = TableCell;

// A part of a step whose values are not ready when the step is committed (device results still
// being copied). The writer thread calls resolve() — which may block on an event — before it
// builds the row, so the training thread never waits for it.
class PendingPart {
 public:
  virtual ~PendingPart() = default;
  virtual void resolve(StepRecord& record) = 0;
};

class Run {
 public:
  explicit Run(RunOptions options = {});
  ~Run();  // finish(), errors swallowed (call finish() to see them)
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;

  const std::string& id() const;
  const std::string& directory() const;  // absolute path
  bool resumed() const;                  // the directory held a previous history
  int64_t next_step() const;             // the _step values logged without a step join
  // The identity run.json records (RunOptions' fields, or a resumed run's): empty when unset.
  std::string name() const;
  std::string group() const;

  // Output of each committed step, called on the writer thread in step order.
  void add_sink(std::shared_ptr<Sink> sink);

  // Merges `values` into config.json (replaced atomically).
  void set_config(const std::map<std::string, ConfigValue>& values);
  // Summary values that are not history (best_*, flops ...). Written with the next summary.
  void set_summary(const std::string& key, const ConfigValue& value);
  // A summary number from this run (including a resumed one's summary.json), if present.
  std::optional<double> summary_number(const std::string& key) const;
  // The best finite value of `key` in history.jsonl as it is on disk now: the smallest, or the
  // largest when `maximize` (the earliest row on ties), with that row's "epoch" and _step; only
  // rows that also hold `row_key` count when it is given (e.g. "epoch": epoch-end rows, not the
  // batch rows that may log the same metric). For resuming best tracking when summary.json lost it.
  struct HistoryBest {
    double value = 0;
    int64_t epoch = -1;  // the row's "epoch" value, −1 when it has none
    int64_t step = -1;
  };
  std::optional<HistoryBest> history_best(const std::string& key, bool maximize,
                                          const std::string& row_key = "") const;
  // Defines the metric `name` (or every metric matching `name` when it holds '*', any run of
  // characters) for the rows written from now on; a later definition of the same name replaces
  // it. Recorded in run.json. On a resumed run the summary statistics continue from history.
  // Throws Error for an empty or non-UTF-8 name, a name starting with '_', a step_metric that is
  // a glob, or a summary with `none` and another kind set.
  void define_metric(const std::string& name, const MetricDefinition& definition = {});
  // The definition given for exactly `name` (this run's or, resumed, run.json's), if any.
  std::optional<MetricDefinition> metric_definition(const std::string& name) const;

  // Writes `json_text` (a JSON document) as graph.json and references it from the summary.
  void write_graph(const std::string& json_text);

  // wandb.log for C++ (docs/run-directory.md#logging): `values` join the row of `step`, W&B's
  // `_step` rules:
  //   no step: the open row, else a new one at next_step(); written now unless commit == false
  //            (then the next call's values join it, as W&B's commit=False);
  //   a step:  a later step first writes the open row; the same step merges into it (a key logged
  //            again replaces its value); commit defaults to false, so the row is written when a
  //            later step arrives, or at flush()/finish(); commit == true writes it now.
  // Returns the step the values joined. Only enqueues: encoding and writing run on the writer
  // thread. Throws Error for a negative step, a step older than the open row or already written
  // (steps never decrease), an empty, reserved ('_…') or repeated key, any key, text, caption or
  // table string that is not UTF-8, or a writer error kept from an earlier row.
  int64_t log(const LogRow& values, std::optional<int64_t> step = std::nullopt,
              std::optional<bool> commit = std::nullopt);
  // The same with record fields and parts resolved on the writer thread (device results).
  int64_t log(StepRecord values, std::vector<std::unique_ptr<PendingPart>> pending,
              std::optional<int64_t> step = std::nullopt, std::optional<bool> commit = std::nullopt);
  // log(record, pending, no step, commit = true): one row at next_step(), written now.
  int64_t commit(StepRecord record, std::vector<std::unique_ptr<PendingPart>> pending = {});
  // Writes the open row, then waits until every row is written (and fsynced); rethrows a kept
  // writer error. A step written this way is closed: logging it again is an Error.
  void flush();
  // flush(), close the sinks, write the final summary. Idempotent.
  void finish();

  // Path of `relative` inside the run directory.
  std::string path(const std::string& relative) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// File-name-safe form of a metric key: [A-Za-z0-9._-] kept, everything else '_', never "." or
// "..", at most 120 characters. No key can name a path outside the folder it is written to.
std::string sanitize_file_component(const std::string& key);

}  // namespace trainscope
