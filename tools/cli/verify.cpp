// trainscope verify <run-dir>: checks a run directory's files against each other and lists every
// problem found; exit status 1 when there is one.
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include "cli/command.h"
#include "cli/run_dir.h"
#include "run/file_io.h"
#include "run/sha256.h"

namespace trainscope::cli {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

const char* const kUsage = R"(usage: trainscope verify <run-dir>

Checks that history.jsonl parses line by line with _step strictly increasing, that summary.json
(and config.json, when present) parse, that every media file the history and summary reference
exists inside the run directory with the recorded sha256 and size, and that no temporary file
(*.tmp-*) of an interrupted write is left. Prints each problem; exit status 1 when there is one.
)";

class Checker {
 public:
  explicit Checker(std::string dir) : dir_(std::move(dir)) {}

  void run() {
    check_history();
    check_documents();
    check_temporaries();
  }
  const std::vector<std::string>& problems() const { return problems_; }
  int64_t lines() const { return lines_; }
  std::size_t files() const { return checked_.size(); }

 private:
  void problem(const std::string& text) { problems_.push_back(text); }

  void check_history() {
    if (!fs::is_regular_file(fs::path(dir_) / "history.jsonl")) {
      problem("history.jsonl: missing");
      return;
    }
    std::optional<int64_t> previous;
    for (const auto& line : history_lines(dir_)) {
      const std::string where = "history.jsonl line " + std::to_string(line.number);
      if (!line.complete) {
        problem(where + ": incomplete last line (a write cut off; resuming the run removes it)");
        continue;
      }
      ++lines_;
      const json row = json::parse(line.text, nullptr, false);
      if (!row.is_object()) {
        problem(where + ": not a JSON object");
        continue;
      }
      if (!row.contains("_step") || !row["_step"].is_number_integer()) {
        problem(where + ": no integer _step");
        continue;
      }
      const int64_t step = row["_step"];
      if (previous && step <= *previous)
        problem(where + ": _step " + std::to_string(step) + " does not increase (previous " +
                std::to_string(*previous) + ")");
      previous = step;
      for (const auto& [key, value] : row.items())
        if (key.empty() || key[0] != '_') check_media(where + ": " + key, value);
    }
  }

  void check_documents() {
    for (const char* name : {"summary.json", "config.json"}) {
      const fs::path path = fs::path(dir_) / name;
      if (!fs::exists(path)) {
        if (std::string(name) == "summary.json") problem("summary.json: missing");
        continue;
      }
      const json document = json::parse(detail::read_file_if_present(path.string()).value_or(""), nullptr, false);
      if (!document.is_object()) {
        problem(std::string(name) + ": not a JSON object");
        continue;
      }
      if (std::string(name) == "summary.json")
        for (const auto& [key, value] : document.items()) check_media("summary.json: " + key, value);
    }
  }

  void check_temporaries() {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir_, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (it->path().filename().string().find(".tmp-") != std::string::npos)
        problem(fs::relative(it->path(), dir_).string() + ": temporary file left by an interrupted write");
    }
  }

  void check_media(const std::string& where, const json& value) {
    if (!value.is_object() || !value.contains("_type") || !value["_type"].is_string()) return;
    const std::string type = value["_type"];
    if (type == "image-file" || type == "table-file") {
      if (!value.contains("path") || !value["path"].is_string()) return problem(where + ": no path");
      check_file(where, value["path"].get<std::string>(), value.contains("sha256") ? value["sha256"] : json(),
                 value.contains("size") ? value["size"] : json());
    } else if (type == "images/separated") {
      for (const auto& name : value.value("filenames", json::array()))
        if (name.is_string()) check_file(where, name.get<std::string>(), json(), json());
    } else if (type == "graph-file") {
      if (value.contains("path") && value["path"].is_string())
        check_file(where, value["path"].get<std::string>(), json(), json());
    }
  }

  // A referenced file: inside the run directory, present, and with the recorded hash and size.
  void check_file(const std::string& where, const std::string& relative, const json& sha256, const json& size) {
    const fs::path path = fs::weakly_canonical(fs::path(dir_) / relative);
    const std::string root = dir_ + "/";
    if (path.string().compare(0, root.size(), root) != 0)
      return problem(where + ": " + relative + " is outside the run directory");
    if (!fs::is_regular_file(path)) return problem(where + ": " + relative + " is missing");
    // Each file once: the summary repeats the history's last references.
    if (!checked_.insert(path.string()).second) return;
    if (!sha256.is_string() && !size.is_number_integer()) return;
    const auto bytes = detail::read_file_if_present(path.string());
    if (!bytes) return problem(where + ": " + relative + " cannot be read");
    if (size.is_number_integer() && size.get<int64_t>() != int64_t(bytes->size()))
      problem(where + ": " + relative + " is " + std::to_string(bytes->size()) + " bytes, the history says " +
              std::to_string(size.get<int64_t>()));
    if (sha256.is_string() && detail::sha256_hex(*bytes) != sha256.get<std::string>())
      problem(where + ": " + relative + " does not match its sha256");
  }

  std::string dir_;
  std::vector<std::string> problems_;
  int64_t lines_ = 0;
  std::set<std::string> checked_;
};

int verify(const Args& args) {
  const std::string dir = existing_directory(single_path_argument(args), "run directory");
  Checker checker(dir);
  checker.run();
  if (checker.problems().empty()) {
    std::cout << "ok: " << dir << ": " << checker.lines() << " history lines, " << checker.files()
              << " referenced files checked\n";
    return 0;
  }
  std::cout << dir << ": " << checker.problems().size() << " problem(s):\n";
  for (const auto& text : checker.problems()) std::cout << "  " << text << "\n";
  return 1;
}

}  // namespace

const Command kVerifyCommand = {"verify", "check a run directory's files (history, summary, media)",
                                kUsage, verify};

}  // namespace trainscope::cli
