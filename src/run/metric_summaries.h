#pragma once
// Run::define_metric's effect on the run (docs/run-directory.md#metric-definitions), the rules W&B
// applies to a defined metric: the summary keeps, per metric, an object of the statistics asked for
// ({"min", "max", "mean", "last", "first"}), or no entry (`none`), or the last value (nothing asked,
// or an undefined metric); `step_sync` copies the step metric's last value into rows that lack it.
// Used on the writer thread only, so rows and definitions are applied in the order they were logged.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainscope/run/run.h"

namespace trainscope::detail {

// `pattern` matches `key` where each '*' stands for any run of characters (none included).
bool glob_match(const std::string& pattern, const std::string& key);

// Throws Error (naming `where`) for a definition define_metric refuses.
void check_metric_definition(const std::string& name, const MetricDefinition& definition, const char* where);

class MetricSummaries {
 public:
  // Adds or replaces the definition of `name` (checked by check_metric_definition).
  void define(const std::string& name, const MetricDefinition& definition);
  bool empty() const { return definitions_.empty(); }
  // The definition of exactly `name` (patterns are names too), if any.
  const MetricDefinition* definition_of(const std::string& name) const;

  // Folds every row of `history_text` (history.jsonl) into the statistics of the metrics `name`
  // defines (every defined metric when empty) and writes their summary entries: after a definition
  // and on resume, so statistics cover the run's whole history.
  void replay(const std::string& history_text, nlohmann::json& summary, const std::string& name = "");

  // Before a row is written: step_sync values added to `row`; the step metrics' values recorded.
  void sync_steps(nlohmann::json& row);
  // After a row is written: its values folded into `summary`.
  void fold(const nlohmann::json& row, nlohmann::json& summary);

  // The definitions as run.json records them (docs/run-directory.md#runjson), in definition order.
  nlohmann::json to_json() const;
  // Definitions recorded by to_json(); entries that do not parse are skipped.
  void load(const nlohmann::json& recorded);

 private:
  struct Stats {
    bool has_data = false;
    uint64_t count = 0;  // finite numbers seen
    double total = 0, min = 0, max = 0;
    nlohmann::json first, last;
    void add(const nlohmann::json& value);
    nlohmann::json summary(const MetricSummary& kinds) const;
  };
  // The definition that applies to `key`: its exact one, else the latest glob that matches.
  const MetricDefinition* find(const std::string& key) const;
  void fold_value(const std::string& key, const nlohmann::json& value, nlohmann::json& summary);

  std::vector<std::pair<std::string, MetricDefinition>> definitions_;  // in definition order
  std::map<std::string, Stats> stats_;
  std::map<std::string, nlohmann::json> step_values_;  // last value of each step metric
};

}  // namespace trainscope::detail
