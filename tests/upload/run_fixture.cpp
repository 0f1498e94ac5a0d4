#include "upload/run_fixture.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace trainscope::testing {
namespace fs = std::filesystem;

std::string make_temp_dir(const std::string& tag) {
  std::string pattern = (fs::temp_directory_path() / ("trainscope-" + tag + "-XXXXXX")).string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

void remove_tree(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

void replace_file(const std::string& path, const std::string& bytes) {
  write_file(path + ".tmp", bytes);
  fs::rename(path + ".tmp", path);
}

void append_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << bytes;
  out.flush();
}

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = char(gen() & 0xff);
  return out;
}

std::string history_line(int step) {
  nlohmann::json row = {{"_step", step}, {"_runtime", 0.5 * step}, {"_timestamp", 1.7e9 + step},
                        {"loss", 1.0 / (1 + step)}, {"note", std::string(size_t(step % 17) * 5, 'x')},
                        {"text", "quote \" and unicode \xc3\xa9"}};
  if (step % 10 == 0) {
    std::vector<int> values(8, step);
    std::vector<double> bins;
    for (int i = 0; i <= 8; ++i) bins.push_back(i * 0.25);
    row["parameters/w"] = {{"_type", "histogram"}, {"values", values}, {"bins", bins}};
  }
  return row.dump();
}

std::string make_run(const std::string& parent, const std::string& run_id, int lines,
                     size_t checkpoint_bytes, bool torn_tail) {
  const std::string dir = parent + "/" + run_id;
  write_file(dir + "/config.json", R"({"lr": 0.01, "batch_size": 64, "model": {"depth": 50}})");
  std::string history;
  for (int step = 0; step < lines; ++step) history += history_line(step) + "\n";
  if (torn_tail) history += R"({"_step": 99999, "loss": 0.)";  // a crash mid-line
  write_file(dir + "/history.jsonl", history);
  write_file(dir + "/summary.json",
             nlohmann::json{{"loss", 1.0 / lines}, {"best_val_loss", 0.125}, {"best_epoch", 3},
                            {"_step", lines - 1}}
                 .dump());
  write_file(dir + "/media/images/examples_0_abc.png", random_bytes(5000, 1));
  write_file(dir + "/media/table/eval_1_def.table.json", R"({"columns":["a"],"data":[[1],[2]]})");
  write_file(dir + "/checkpoints/model-best.pt", random_bytes(checkpoint_bytes, 2));
  write_file(dir + "/graph.json", R"({"modules":[{"name":"fc","type":"Linear"}]})");
  return dir;
}

std::vector<std::string> complete_history_lines(const std::string& run_dir) {
  const std::string text = read_file(run_dir + "/history.jsonl");
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

std::vector<std::string> run_file_names(const std::string& run_dir) {
  std::vector<std::string> names;
  for (const char* sub : {"media", "checkpoints"}) {
    if (!fs::exists(fs::path(run_dir) / sub)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(fs::path(run_dir) / sub))
      if (entry.is_regular_file()) names.push_back(fs::relative(entry.path(), run_dir).generic_string());
  }
  if (fs::exists(fs::path(run_dir) / "graph.json")) names.push_back("graph.json");
  return names;
}

bool tree_contains(const std::string& dir, const std::string& needle) {
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    if (read_file(entry.path().string()).find(needle) != std::string::npos) return true;
  }
  return false;
}

}  // namespace trainscope::testing
