// trainscope sync <run-dir>: uploads a finished or crashed run directory to W&B (like `wandb
// sync`), resuming where an earlier upload of the same directory stopped.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "trainscope/error.h"
#include "trainscope/upload/uploader.h"

namespace {

const char* const kUsage = R"(usage: trainscope sync <run-dir> [options]

Uploads a run directory (config.json, history.jsonl, summary.json, media/, checkpoints/) to W&B
and marks the run finished. Safe to repeat: progress is kept in <run-dir>/upload/wandb-state.json.

options:
  --project P            W&B project (default: $WANDB_PROJECT, else "uncategorized")
  --entity E             W&B entity (default: $WANDB_ENTITY, else the API key's default entity)
  --base-url U           W&B server (default: $WANDB_BASE_URL, else https://api.wandb.ai)
  --run-id ID            run id (default: the run's metadata, else the directory name)
  --ca-bundle FILE       PEM certificates to verify the server with (default: $CURL_CA_BUNDLE,
                         else the system store); verification cannot be turned off
  --exit-code N          exit code recorded for the run (default 0)
  --timeout S            seconds per API request (default 60)
  --retry-initial S      first retry delay in seconds (default 2)
  --retry-max S          longest retry delay in seconds (default 60)
  --retry-give-up S      stop retrying a request after S seconds (default 900)
  --max-request-bytes N  largest file_stream request (default 10 MiB)
  --max-line-bytes N     longer history lines are skipped and reported (default 10383360)
  --no-files             upload history, summary and config only
  --quiet                no progress lines

The API key comes from $WANDB_API_KEY or ~/.netrc (machine <host of the base URL>, password <key>).
)";

bool parse_number(const char* text, double& out) {
  char* end = nullptr;
  out = std::strtod(text, &end);
  return end != text && *end == '\0';
}

std::string human_bytes(int64_t bytes) {
  char buffer[32];
  if (bytes >= (1 << 20)) std::snprintf(buffer, sizeof buffer, "%.1f MiB", double(bytes) / (1 << 20));
  else if (bytes >= 1024) std::snprintf(buffer, sizeof buffer, "%.1f KiB", double(bytes) / 1024);
  else std::snprintf(buffer, sizeof buffer, "%lld B", static_cast<long long>(bytes));
  return buffer;
}

int sync_command(int argc, char** argv) {
  if (argc < 1) {
    std::cerr << kUsage;
    return 2;
  }
  std::string run_dir;
  trainscope::UploadOptions options;
  int exit_code = 0;
  bool quiet = false;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= argc) {
        std::cerr << "trainscope sync: " << name << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    auto number = [&](const char* name) {
      double out = 0;
      const char* text = value(name);
      if (!parse_number(text, out) || out < 0) {
        std::cerr << "trainscope sync: " << name << ": expected a non-negative number, got '" << text << "'\n";
        std::exit(2);
      }
      return out;
    };
    if (arg == "--project") options.project = value("--project");
    else if (arg == "--entity") options.entity = value("--entity");
    else if (arg == "--base-url") options.base_url = value("--base-url");
    else if (arg == "--run-id") options.run_id = value("--run-id");
    else if (arg == "--ca-bundle") options.ca_bundle = value("--ca-bundle");
    else if (arg == "--exit-code") exit_code = int(number("--exit-code"));
    else if (arg == "--timeout") options.request_timeout_seconds = options.connect_timeout_seconds =
        options.transfer_stall_seconds = number("--timeout");
    else if (arg == "--retry-initial") options.retry.initial_delay_seconds = number("--retry-initial");
    else if (arg == "--retry-max") options.retry.max_delay_seconds = number("--retry-max");
    else if (arg == "--retry-give-up") options.retry.max_elapsed_seconds = number("--retry-give-up");
    else if (arg == "--max-request-bytes") options.max_request_bytes = int64_t(number("--max-request-bytes"));
    else if (arg == "--max-line-bytes") options.max_line_bytes = int64_t(number("--max-line-bytes"));
    else if (arg == "--no-files") options.upload_files = false;
    else if (arg == "--quiet") quiet = true;
    else if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      return 0;
    } else if (!arg.empty() && arg[0] == '-') {
      std::cerr << "trainscope sync: unknown option " << arg << "\n" << kUsage;
      return 2;
    } else if (run_dir.empty()) {
      run_dir = arg;
    } else {
      std::cerr << "trainscope sync: one run directory expected, got also " << arg << "\n";
      return 2;
    }
  }
  if (run_dir.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  if (!quiet) {
    // At most one progress line a second (and the last one), however many requests there are.
    options.on_progress = [last = std::chrono::steady_clock::time_point()](
                              const trainscope::UploadProgress& p) mutable {
      const auto now = std::chrono::steady_clock::now();
      if (!p.complete && now - last < std::chrono::seconds(1)) return;
      last = now;
      std::cout << "sync " << p.run_path << ": " << p.history_lines_sent << " history lines, "
                << p.files_uploaded << " files (" << human_bytes(p.bytes_uploaded) << " sent)"
                << (p.summary_sent ? ", summary" : "") << (p.complete ? ", complete" : "")
                << std::endl;
    };
  }
  try {
    const trainscope::UploadProgress done = trainscope::sync_run(run_dir, options, exit_code);
    for (const auto& warning : done.warnings) std::cerr << "warning: " << warning << "\n";
    std::cout << "synced " << done.run_path << ": " << done.history_lines_sent << " history lines"
              << (done.history_lines_dropped ? " (" + std::to_string(done.history_lines_dropped) + " skipped)" : "")
              << ", " << done.files_uploaded << " files, run marked complete (exit code " << exit_code
              << ")" << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "trainscope sync: " << e.what() << "\n"
              << "The run directory is unchanged; run the same command again to resume.\n";
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "sync") == 0) return sync_command(argc - 2, argv + 2);
  if (argc >= 2 && (std::strcmp(argv[1], "-h") == 0 || std::strcmp(argv[1], "--help") == 0)) {
    std::cout << kUsage;
    return 0;
  }
  std::cerr << kUsage;
  return 2;
}
