// trainscope sync <run-dir>: uploads a finished or crashed run directory to W&B (like `wandb
// sync`), resuming where an earlier upload of the same directory stopped.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "cli/command.h"
#include "cli/run_dir.h"
#include "trainscope/error.h"
#include "trainscope/upload/uploader.h"
#include "upload/wandb_client.h"  // UploadError: tells a transient failure from a refusal

namespace trainscope::cli {
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
  --resume MODE          when the run id already exists and this directory did not create it:
                         never (refuse, the default), allow (append to it), must (refuse unless
                         it exists)
  --parallel N           file uploads in flight at once (default 4)
  --quiet                no progress lines

The API key comes from $WANDB_API_KEY or ~/.netrc (machine <host of the base URL>, password <key>).
)";

std::string human_bytes(int64_t bytes) {
  char buffer[32];
  if (bytes >= (1 << 20)) std::snprintf(buffer, sizeof buffer, "%.1f MiB", double(bytes) / (1 << 20));
  else if (bytes >= 1024) std::snprintf(buffer, sizeof buffer, "%.1f KiB", double(bytes) / 1024);
  else std::snprintf(buffer, sizeof buffer, "%lld B", static_cast<long long>(bytes));
  return buffer;
}

struct SyncArgs {
  std::string run_dir;
  UploadOptions options;
  int exit_code = 0;
  bool quiet = false;
};

SyncArgs parse(const Args& args) {
  SyncArgs out;
  UploadOptions& options = out.options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) throw UsageError(arg + " needs a value");
      return args[++i];
    };
    auto number = [&]() {
      const std::string& text = value();
      char* end = nullptr;
      const double out = std::strtod(text.c_str(), &end);
      if (end == text.c_str() || *end != '\0' || out < 0)
        throw UsageError(arg + ": expected a non-negative number, got '" + text + "'");
      return out;
    };
    if (arg == "--project") options.project = value();
    else if (arg == "--entity") options.entity = value();
    else if (arg == "--base-url") options.base_url = value();
    else if (arg == "--run-id") options.run_id = value();
    else if (arg == "--ca-bundle") options.ca_bundle = value();
    else if (arg == "--exit-code") out.exit_code = int(number());
    else if (arg == "--timeout") options.request_timeout_seconds = options.connect_timeout_seconds =
        options.transfer_stall_seconds = number();
    else if (arg == "--retry-initial") options.retry.initial_delay_seconds = number();
    else if (arg == "--retry-max") options.retry.max_delay_seconds = number();
    else if (arg == "--retry-give-up") options.retry.max_elapsed_seconds = number();
    else if (arg == "--max-request-bytes") options.max_request_bytes = int64_t(number());
    else if (arg == "--max-line-bytes") options.max_line_bytes = int64_t(number());
    else if (arg == "--no-files") options.upload_files = false;
    else if (arg == "--resume") {
      const std::string& mode = value();
      if (mode == "never") options.resume = trainscope::ResumeMode::Never;
      else if (mode == "allow") options.resume = trainscope::ResumeMode::Allow;
      else if (mode == "must") options.resume = trainscope::ResumeMode::Must;
      else throw UsageError("--resume: expected never, allow or must, got '" + mode + "'");
    }
    else if (arg == "--parallel") options.max_parallel_uploads = std::max(1, int(number()));
    else if (arg == "--quiet") out.quiet = true;
    else if (!arg.empty() && arg[0] == '-') throw UsageError("unknown option " + arg);
    else if (out.run_dir.empty()) out.run_dir = arg;
    else throw UsageError("one run directory expected, got also " + arg);
  }
  if (out.run_dir.empty()) throw UsageError("a run directory is required");
  return out;
}

// At most one progress line a second (and the last one), however many requests there are.
void print_progress(UploadOptions& options) {
  options.on_progress = [last = std::chrono::steady_clock::time_point()](
                            const UploadProgress& p) mutable {
    const auto now = std::chrono::steady_clock::now();
    if (!p.complete && now - last < std::chrono::seconds(1)) return;
    last = now;
    std::cout << "sync " << p.run_path << ": " << p.history_lines_sent << " history lines, "
              << p.files_uploaded << " files (" << human_bytes(p.bytes_uploaded) << " sent)"
              << (p.summary_sent ? ", summary" : "") << (p.complete ? ", complete" : "")
              << std::endl;
  };
}

int sync_command(const Args& args) {
  SyncArgs parsed = parse(args);
  existing_directory(parsed.run_dir, "run directory");
  if (!parsed.quiet) print_progress(parsed.options);
  // Configuration errors (credentials, options, another uploader) surface here, before any
  // request: they go to main's handler like every other command's errors.
  Uploader uploader(parsed.run_dir, parsed.options);
  try {
    const UploadProgress done = uploader.sync(parsed.exit_code);
    for (const auto& warning : done.warnings) std::cerr << "warning: " << warning << "\n";
    std::cout << "synced " << done.run_path << ": " << done.history_lines_sent << " history lines"
              << (done.history_lines_dropped
                      ? " (" + std::to_string(done.history_lines_dropped) + " skipped)"
                      : "")
              << ", " << done.files_uploaded << " files, run marked complete (exit code "
              << parsed.exit_code << ")" << std::endl;
    return 0;
  } catch (const detail::UploadError& e) {
    std::cerr << "trainscope sync: " << e.what() << "\n";
    // Only a failure that may pass makes rerunning the same command worthwhile; the uploader
    // never changes the run's own files and keeps its progress, so a rerun resumes.
    if (e.transient())
      std::cerr << "The run directory is unchanged; run the same command again to resume.\n";
    return 1;
  }
}

}  // namespace

const Command kSyncCommand = {"sync", "upload a run directory to W&B (resumable)", kUsage, sync_command};

}  // namespace trainscope::cli
