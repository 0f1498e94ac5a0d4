#pragma once
// Shared helpers of the callback tests: fresh run directories and reading what was written.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace trainscope::testing {

// libtorch.so exports its own std::filesystem::remove_all that crashes on folders with files in
// them; remove with rm instead (the paths are ours).
inline void remove_tree(const std::filesystem::path& dir) {
  std::string command = "rm -rf '" + dir.string() + "'";
  if (std::system(command.c_str()) != 0) throw std::runtime_error("cannot remove " + dir.string());
}

inline std::filesystem::path fresh_run_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("trainscope_callback_test_" + std::to_string(::getpid())) / name;
  remove_tree(dir);
  std::filesystem::create_directories(dir.parent_path());
  return dir;
}

inline std::vector<nlohmann::json> read_history(const std::filesystem::path& dir) {
  std::ifstream in(dir / "history.jsonl");
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(in, line);) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

inline nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

}  // namespace trainscope::testing
