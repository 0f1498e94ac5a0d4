// trainscope show <run-dir>: the run's config and summary, one key a line.
#include <algorithm>
#include <iostream>

#include "cli/command.h"
#include "cli/run_dir.h"

namespace trainscope::cli {
namespace {

const char* const kUsage = R"(usage: trainscope show <run-dir>

Prints the run's status and step count, then config.json and summary.json, one key a line
(media as their path, histograms as their bin count).
)";

void print_section(const std::string& title, const std::optional<nlohmann::json>& document) {
  std::cout << "\n" << title << ":\n";
  if (!document) {
    std::cout << "  (missing)\n";
    return;
  }
  if (!document->is_object()) {
    std::cout << "  " << document->dump() << "\n";
    return;
  }
  if (document->empty()) std::cout << "  (empty)\n";
  std::size_t width = 0;
  for (const auto& item : document->items()) width = std::max(width, item.key().size());
  for (const auto& item : document->items()) {
    std::string key = item.key();
    key.resize(width, ' ');
    std::cout << "  " << key << "  " << brief_value(item.value()) << "\n";
  }
}

int show(const Args& args) {
  const std::string dir = existing_directory(single_path_argument(args), "run directory");
  const RunInfo info = describe_run(dir);
  std::cout << "run " << info.id << " (" << dir << ")\n"
            << "status: " << info.status << ", " << info.steps << " steps"
            << (info.last_time ? ", last step " + format_utc(*info.last_time) + " UTC" : "") << "\n";
  print_section("config", read_json(dir + "/config.json"));
  print_section("summary", read_json(dir + "/summary.json"));
  return 0;
}

}  // namespace

const Command kShowCommand = {"show", "print a run's config and summary", kUsage, show};

}  // namespace trainscope::cli
