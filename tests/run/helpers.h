#pragma once
// Shared helpers of the run tests: fresh directories and history.jsonl as JSON rows.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace trainscope::test_support {

// <tmp>/trainscope_<suite>_<pid>/<name>, empty (these tests do not link libtorch, whose exported
// remove_all misbehaves; see tests/callback/helpers.h).
inline std::filesystem::path fresh_dir(const std::string& suite, const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("trainscope_" + suite + "_" + std::to_string(::getpid())) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir.parent_path());
  return dir;
}

inline std::vector<nlohmann::json> history_of(const std::filesystem::path& dir) {
  std::ifstream in(dir / "history.jsonl");
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(in, line);) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

}  // namespace trainscope::test_support
