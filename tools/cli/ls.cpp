// trainscope ls [<root>]: one line per run directory under root (default runs/).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli/command.h"
#include "cli/run_dir.h"

namespace trainscope::cli {
namespace {

const char* const kUsage = R"(usage: trainscope ls [<root>]

Lists the run directories under <root> (default: runs/): run id, status, steps (history lines),
the time of the last step (UTC) and the best values from the summary (best_* keys).

status: running   history or summary written within the last minute
        crashed   the history ends in a torn line, or the summary is behind the history
        finished  an upload (`trainscope sync`) marked the run complete
        stopped   not running; no file says whether it finished or crashed
)";

int ls(const Args& args) {
  const std::string root = existing_directory(single_path_argument(args, "runs"), "runs root");
  std::vector<RunInfo> runs;
  for (const auto& entry : std::filesystem::directory_iterator(root)) {
    if (entry.is_directory() && is_run_directory(entry.path().string()))
      runs.push_back(describe_run(entry.path().string()));
  }
  if (runs.empty()) {
    std::cout << "no runs in " << root << "\n";
    return 0;
  }
  std::sort(runs.begin(), runs.end(), [](const RunInfo& a, const RunInfo& b) { return a.id < b.id; });
  std::size_t id_width = 6;
  for (const auto& run : runs) id_width = std::max(id_width, run.id.size());
  std::printf("%-*s  %-8s  %7s  %-19s  %s\n", int(id_width), "RUN ID", "STATUS", "STEPS",
              "LAST STEP (UTC)", "BEST");
  for (const auto& run : runs) {
    const std::string last = run.last_time ? format_utc(*run.last_time) : "-";
    std::printf("%-*s  %-8s  %7lld  %-19s  %s\n", int(id_width), run.id.c_str(), run.status.c_str(),
                static_cast<long long>(run.steps), last.c_str(), run.best.empty() ? "-" : run.best.c_str());
  }
  return 0;
}

}  // namespace

const Command kLsCommand = {"ls", "list the runs under a folder with status, steps and best values",
                            kUsage, ls};

}  // namespace trainscope::cli
