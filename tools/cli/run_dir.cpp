#include "cli/run_dir.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "run/file_io.h"
#include "trainscope/error.h"

namespace trainscope::cli {
namespace fs = std::filesystem;

namespace {

constexpr double kRunningWithinSeconds = 60;  // the writer replaces summary.json every step

std::optional<double> seconds_since_modified(const fs::path& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return std::nullopt;
  const double modified = double(info.st_mtim.tv_sec) + info.st_mtim.tv_nsec * 1e-9;
  return double(std::time(nullptr)) - modified;
}

std::string format_number(double value) {
  std::ostringstream out;
  out.precision(6);
  out << value;
  return out.str();
}

}  // namespace

std::string existing_directory(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(what + " '" + path + "' does not exist");
  if (!fs::is_directory(path, ec)) throw Error(what + " '" + path + "' is not a directory");
  return fs::canonical(path).string();
}

bool is_run_directory(const std::string& dir) {
  std::error_code ec;
  for (const char* name : {"history.jsonl", "summary.json", "config.json"})
    if (fs::is_regular_file(fs::path(dir) / name, ec)) return true;
  return false;
}


std::optional<nlohmann::json> read_json(const std::string& path) {
  auto text = detail::read_file_if_present(path);
  if (!text) return std::nullopt;
  try {
    return nlohmann::json::parse(*text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": not valid JSON (" + e.what() + ")");
  }
}

std::vector<HistoryLine> history_lines(const std::string& run_dir) {
  std::vector<HistoryLine> lines;
  const auto text = detail::read_file_if_present(run_dir + "/history.jsonl");
  if (!text) return lines;
  std::size_t begin = 0;
  for (int64_t number = 1; begin < text->size(); ++number) {
    const std::size_t end = text->find('\n', begin);
    HistoryLine line;
    line.number = number;
    line.complete = end != std::string::npos;
    line.text = text->substr(begin, line.complete ? end - begin : std::string::npos);
    lines.push_back(std::move(line));
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  return lines;
}

RunInfo describe_run(const std::string& run_dir) {
  RunInfo info;
  info.id = fs::path(run_dir).filename().string();
  const auto lines = history_lines(run_dir);
  bool torn = false;
  std::optional<int64_t> last_step;
  for (const auto& line : lines) {
    if (!line.complete) {
      torn = true;
      continue;
    }
    ++info.steps;
    const auto row = nlohmann::json::parse(line.text, nullptr, false);
    if (!row.is_object()) continue;
    if (row.contains("_step") && row["_step"].is_number_integer()) last_step = row["_step"].get<int64_t>();
    if (row.contains("_timestamp") && row["_timestamp"].is_number()) info.last_time = row["_timestamp"].get<double>();
  }

  nlohmann::json summary = nlohmann::json::object();
  if (auto text = detail::read_file_if_present(run_dir + "/summary.json")) {
    summary = nlohmann::json::parse(*text, nullptr, false);
    if (!summary.is_object()) summary = nlohmann::json::object();
  }
  std::optional<double> best_epoch;
  for (const auto& [key, value] : summary.items()) {
    if (key.rfind("best_", 0) != 0 || !value.is_number()) continue;
    if (key == "best_epoch") {
      best_epoch = value.get<double>();
      continue;
    }
    if (!info.best.empty()) info.best += " ";
    info.best += key + "=" + format_number(value.get<double>());
  }
  if (!info.best.empty() && best_epoch) info.best += " (epoch " + format_number(*best_epoch) + ")";

  const bool summary_behind = last_step && summary.contains("_step") &&
                              summary["_step"].is_number_integer() &&
                              summary["_step"].get<int64_t>() < *last_step;
  std::optional<double> idle;
  for (const char* name : {"history.jsonl", "summary.json"}) {
    if (auto age = seconds_since_modified(fs::path(run_dir) / name))
      idle = idle ? std::min(*idle, *age) : *age;
  }
  bool upload_complete = false;
  if (auto text = detail::read_file_if_present(run_dir + "/upload/wandb-state.json")) {
    const auto state = nlohmann::json::parse(*text, nullptr, false);
    upload_complete = state.is_object() && state.value("complete", false);
  }
  if (idle && *idle < kRunningWithinSeconds) info.status = "running";
  else if (torn || summary_behind) info.status = "crashed";
  else if (upload_complete) info.status = "finished";
  else info.status = "stopped";
  return info;
}

std::string format_utc(double unix_seconds) {
  const std::time_t seconds = std::time_t(std::floor(unix_seconds));
  std::tm utc {};
  gmtime_r(&seconds, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M:%S", &utc);
  return buffer;
}

std::string brief_value(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("_type") && value["_type"].is_string()) {
    const std::string type = value["_type"];
    if (type == "histogram" && value.contains("values") && value["values"].is_array())
      return "histogram, " + std::to_string(value["values"].size()) + " bins";
    if (value.contains("path") && value["path"].is_string())
      return type + " " + value["path"].get<std::string>();
    if (type == "images/separated" && value.contains("count"))
      return std::to_string(value.value("count", 0)) + " images";
  }
  return value.dump();
}

}  // namespace trainscope::cli
