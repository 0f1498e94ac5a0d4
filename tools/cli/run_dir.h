#pragma once
// Read-only views of a run directory (runs/<run-id>/: config.json, history.jsonl, summary.json,
// media/, upload/) shared by the ls, show, verify and tb commands. Nothing here writes.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace trainscope::cli {

// The canonical absolute path of an existing directory; throws Error naming `what` otherwise
// (e.g. "run directory 'runs/x' does not exist").
std::string existing_directory(const std::string& path, const std::string& what);

// True when `dir` looks like a run directory (holds history.jsonl, summary.json or config.json).
bool is_run_directory(const std::string& dir);

// A JSON document, or nullopt when the file is missing; throws Error naming the file if it
// does not parse.
std::optional<nlohmann::json> read_json(const std::string& path);

struct HistoryLine {
  int64_t number = 0;  // 1-based line number in history.jsonl
  std::string text;    // without the newline
  bool complete = true;  // false: the last line, with no newline (a write cut off by a crash)
};
std::vector<HistoryLine> history_lines(const std::string& run_dir);

// What `ls` shows about one run, from its files alone.
struct RunInfo {
  std::string id;
  // running: history or summary written within the last minute; crashed: the history ends in a
  // torn line or the summary is behind it; finished: the upload marked the run complete;
  // stopped: not running, and no file says how it ended.
  std::string status;
  int64_t steps = 0;                 // complete history lines
  std::optional<double> last_time;   // _timestamp of the last complete line (Unix seconds)
  std::string best;                  // "best_val_acc=0.9531 (epoch 3)", or empty
};
RunInfo describe_run(const std::string& run_dir);

// "2026-12-01 19:06:41" (UTC) for Unix seconds.
std::string format_utc(double unix_seconds);

// One summary or config value on one line: numbers and strings as they are, media references
// as their path, histograms as their bin count, other structures as compact JSON.
std::string brief_value(const nlohmann::json& value);

}  // namespace trainscope::cli
