#include "support/run_dir_verifier.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "run/file_io.h"
#include "run/sha256.h"

namespace trainscope::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

std::string env_or(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

// Runs read_tensorboard.py; returns false (with the output in `error`) when TensorBoard failed.
bool read_tensorboard(const std::string& log_dir, json& out, std::string& error, bool& ran) {
#ifdef TRAINSCOPE_CONFIGURED_PYTHON
  const std::string python = env_or("TRAINSCOPE_PYTHON", TRAINSCOPE_CONFIGURED_PYTHON);
  const std::string source = env_or("TRAINSCOPE_SOURCE_DIR", TRAINSCOPE_CONFIGURED_SOURCE_DIR);
#else
  const std::string python = env_or("TRAINSCOPE_PYTHON", "");
  const std::string source = env_or("TRAINSCOPE_SOURCE_DIR", "");
#endif
  ran = false;
  if (python.empty() || source.empty()) return true;  // no reader configured: not checked
  ran = true;
  const std::string command = "'" + python + "' '" + source + "/tests/support/read_tensorboard.py' '" +
                              log_dir + "' 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) {
    error = "cannot start " + command;
    return false;
  }
  std::string output;
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) output.append(buffer, n);
  const int status = ::pclose(pipe);
  if (status != 0) {
    error = output.size() > 2000 ? output.substr(output.size() - 2000) : output;
    return false;
  }
  const auto brace = output.rfind("\n{");
  out = json::parse(brace == std::string::npos ? output : output.substr(brace + 1), nullptr, false);
  if (out.is_discarded()) {
    error = "unreadable output: " + output.substr(0, 500);
    return false;
  }
  return true;
}

bool is_temporary(const std::string& name) {
  auto ends_with = [&](const std::string& s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  return detail::is_atomic_temp_name(name) || ends_with(".tmp") || name.find(".tmp-") != std::string::npos;
}

void check_media(const fs::path& dir, const std::string& key, int64_t step, const json& value,
                 std::set<std::string>& referenced, std::vector<std::string>& problems) {
  auto where = [&] { return "step " + std::to_string(step) + " key '" + key + "': "; };
  auto check_file = [&](const std::string& path, const json* sha, const json* size) {
    referenced.insert(path);
    if (!fs::is_regular_file(dir / path)) {
      problems.push_back(where() + "media file " + path + " is missing");
      return;
    }
    const std::string bytes = slurp(dir / path);
    if (size && (!size->is_number_integer() || size->get<size_t>() != bytes.size()))
      problems.push_back(where() + path + ": size " + std::to_string(bytes.size()) + ", recorded " + size->dump());
    if (sha && (!sha->is_string() || sha->get<std::string>() != detail::sha256_hex(bytes)))
      problems.push_back(where() + path + ": SHA-256 differs from the recorded one");
  };
  const std::string type = value.value("_type", std::string());
  if (type == "image-file" || type == "table-file") {
    if (!value.contains("path") || !value["path"].is_string()) {
      problems.push_back(where() + type + " without a path");
      return;
    }
    check_file(value["path"], value.contains("sha256") ? &value["sha256"] : nullptr,
               value.contains("size") ? &value["size"] : nullptr);
  } else if (type == "images/separated") {
    for (const auto& name : value.value("filenames", json::array()))
      if (name.is_string()) check_file(name, nullptr, nullptr);
  }
}

}  // namespace

std::string describe(const std::vector<std::string>& problems) {
  std::string out = std::to_string(problems.size()) + " problem(s) in the run directory:";
  for (size_t i = 0; i < problems.size() && i < 40; ++i) out += "\n  " + problems[i];
  return out;
}

std::vector<std::string> verify_run_dir(const std::string& dir_text, const VerifyOptions& options,
                                        RunDirContents* contents) {
  std::vector<std::string> problems;
  RunDirContents local;
  RunDirContents& got = contents ? *contents : local;
  got = RunDirContents{};
  const fs::path dir(dir_text);

  // history.jsonl
  const std::string history = slurp(dir / "history.jsonl");
  if (!fs::exists(dir / "history.jsonl")) problems.push_back("history.jsonl is missing");
  std::set<std::string> referenced;
  std::map<std::string, json> last_value;
  int64_t previous = -1;
  size_t begin = 0, line_number = 0;
  while (begin < history.size()) {
    const size_t end = history.find('\n', begin);
    if (end == std::string::npos) {
      if (!options.allow_torn_tail)
        problems.push_back("history.jsonl ends in an incomplete line of " +
                           std::to_string(history.size() - begin) + " bytes");
      break;
    }
    const std::string line = history.substr(begin, end - begin);
    begin = end + 1;
    const json row = json::parse(line, nullptr, false);
    if (!row.is_object()) {
      problems.push_back("history line " + std::to_string(line_number) + " is not a JSON object: " +
                         line.substr(0, 120));
      ++line_number;
      continue;
    }
    ++line_number;
    const json step_value = row.value("_step", json());
    if (!step_value.is_number_integer()) {
      problems.push_back("history line " + std::to_string(line_number - 1) + " has no integer _step");
      continue;
    }
    const int64_t step = step_value.get<int64_t>();
    if (step <= previous) problems.push_back("_step " + std::to_string(step) + " after " + std::to_string(previous));
    else if (options.contiguous_steps && step != previous + 1)
      problems.push_back("_step " + std::to_string(step) + " after " + std::to_string(previous) + ": steps lost");
    previous = step;
    for (const auto& [key, value] : row.items()) {
      last_value[key] = value;
      if (value.is_object()) check_media(dir, key, step, value, referenced, problems);
    }
    got.rows.push_back(row);
  }

  // summary.json
  if (fs::exists(dir / "summary.json")) {
    got.summary = json::parse(slurp(dir / "summary.json"), nullptr, false);
    if (!got.summary.is_object()) {
      problems.push_back("summary.json is not a JSON object");
    } else if (options.finished) {
      for (const auto& [key, value] : last_value) {
        if (!got.summary.contains(key)) problems.push_back("summary.json lacks history key '" + key + "'");
        else if (got.summary[key] != value)
          problems.push_back("summary.json '" + key + "' is " + got.summary[key].dump().substr(0, 80) +
                             ", the last history value " + value.dump().substr(0, 80));
      }
    }
  } else if (options.finished) {
    problems.push_back("summary.json is missing");
  }

  // Leftovers: temporaries anywhere, media no row references.
  {
    std::error_code ec;
    for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (!it->is_regular_file(ec)) continue;
      const std::string relative = it->path().lexically_relative(dir).generic_string();
      if (is_temporary(it->path().filename().string())) {
        ++got.temporaries;
        if (!options.allow_torn_tail) problems.push_back("temporary file left: " + relative);
      } else if (relative.rfind("media/", 0) == 0 && !referenced.count(relative)) {
        ++got.unreferenced_media;
        if (!options.allow_torn_tail) problems.push_back("media file no history row references: " + relative);
      }
    }
  }

  // TensorBoard
  if (options.check_tensorboard && fs::is_directory(dir / "tb")) {
    std::string error;
    bool ran = false;
    if (!read_tensorboard((dir / "tb").string(), got.tensorboard, error, ran)) {
      problems.push_back("TensorBoard cannot read tb/: " + error);
    } else if (ran) {
      got.tensorboard_read = true;
      std::map<std::string, std::map<int64_t, json>> history_scalars;
      for (const auto& row : got.rows) {
        const int64_t step = row["_step"].get<int64_t>();
        for (const auto& [key, value] : row.items())
          if (key[0] != '_' && (value.is_number() || value.is_null())) history_scalars[key][step] = value;
      }
      const json scalars = got.tensorboard.value("scalars", json::object());
      for (const auto& [tag, points] : scalars.items()) {
        auto series = history_scalars.find(tag);
        if (series == history_scalars.end()) {
          problems.push_back("TensorBoard scalar '" + tag + "' is not a history key");
          continue;
        }
        int64_t last = -1;
        for (const auto& point : points) {
          const int64_t step = point[0].get<int64_t>();
          if (step <= last) problems.push_back("TensorBoard '" + tag + "': step " + std::to_string(step) + " after " + std::to_string(last));
          last = step;
          auto value = series->second.find(step);
          if (value == series->second.end()) {
            problems.push_back("TensorBoard '" + tag + "' step " + std::to_string(step) + " is not in history");
            continue;
          }
          const bool both_null = point[1].is_null() && value->second.is_null();
          if (!both_null && (point[1].is_null() || value->second.is_null() ||
                             point[1].get<double>() != double(float(value->second.get<double>()))))
            problems.push_back("TensorBoard '" + tag + "' step " + std::to_string(step) + ": " +
                               point[1].dump() + ", history " + value->second.dump());
        }
      }
      for (const auto& [key, series] : history_scalars) {
        std::set<int64_t> have;
        if (scalars.contains(key))
          for (const auto& point : scalars[key]) have.insert(point[0].get<int64_t>());
        for (const auto& [step, value] : series)
          if (step >= options.tensorboard_complete_from && !have.count(step))
            problems.push_back("TensorBoard lacks '" + key + "' at step " + std::to_string(step));
      }
    }
  }
  return problems;
}

}  // namespace trainscope::testing
