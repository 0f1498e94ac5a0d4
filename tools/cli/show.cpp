// trainscope show <run-dir>: the run's config and summary, one key a line.
#include <algorithm>
#include <iostream>

#include "cli/command.h"
#include "cli/run_dir.h"

namespace trainscope::cli {
namespace {

const char* const kUsage = R"(usage: trainscope show <run-dir>

Prints the run's status and step count, its name, group, job type, tags and notes (run.json),
then config.json and summary.json, one key a line (media as their path, histograms as their bin
count).
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

// The identity run.json records (docs/run-directory.md#runjson), a line per field that is set.
void print_identity(const std::optional<nlohmann::json>& record) {
  if (!record || !record->is_object()) return;
  for (const auto& [key, label] : {std::pair{"name", "name"}, {"group", "group"}, {"job_type", "job type"},
                                   {"notes", "notes"}}) {
    const auto it = record->find(key);
    if (it != record->end() && it->is_string() && !it->get<std::string>().empty())
      std::cout << label << ": " << it->get<std::string>() << "\n";
  }
  const auto tags = record->find("tags");
  if (tags == record->end() || !tags->is_array() || tags->empty()) return;
  std::string line;
  for (const auto& tag : *tags)
    if (tag.is_string()) line += (line.empty() ? "" : ", ") + tag.get<std::string>();
  std::cout << "tags: " << line << "\n";
}

int show(const Args& args) {
  const std::string dir = existing_directory(single_path_argument(args), "run directory");
  const RunInfo info = describe_run(dir);
  std::cout << "run " << info.id << " (" << dir << ")\n"
            << "status: " << info.status << ", " << info.steps << " steps"
            << (info.last_time ? ", last step " + format_utc(*info.last_time) + " UTC" : "") << "\n";
  print_identity(read_json(dir + "/run.json"));
  print_section("config", read_json(dir + "/config.json"));
  print_section("summary", read_json(dir + "/summary.json"));
  return 0;
}

}  // namespace

const Command kShowCommand = {"show", "print a run's config and summary", kUsage, show};

}  // namespace trainscope::cli
