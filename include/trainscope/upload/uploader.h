#pragma once
// Uploads a run directory (docs/run-directory.md) to W&B (docs/upload.md): the directory is the journal, the uploader
// replays it. Live: start() tails the directory from a background thread while training writes it;
// stop() uploads what is left and marks the run complete. Offline: sync_run() does both at once.
// Progress (acknowledged history lines, uploaded files) is kept durably in
// <run-dir>/upload/wandb-state.json, so a restart resumes without losing or repeating a line.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace trainscope {

// How failed requests are retried: connection errors, 408, 429 and 5xx wait
// min(max_delay, initial_delay · 2^attempt) with full jitter (or the server's Retry-After, when it
// sends one) and try again until max_elapsed has passed; 400/401/403/404/409/410/413/422 and every
// other status fail at once.
struct RetryOptions {
  double initial_delay_seconds = 2.0;
  double max_delay_seconds = 60.0;
  double max_elapsed_seconds = 15 * 60.0;  // per request; then the upload stops with an Error
  bool jitter = true;
};

struct UploadProgress {
  std::string run_path;             // entity/project/run
  int64_t history_lines_sent = 0;   // acknowledged by the server, including earlier sessions
  int64_t history_lines_dropped = 0;  // longer than max_line_bytes (reported in warnings)
  int64_t files_uploaded = 0;       // files whose current content the server has
  int64_t bytes_uploaded = 0;       // file bytes PUT by this session
  bool summary_sent = false;
  bool complete = false;            // the server marked the run finished
  std::vector<std::string> warnings;
};

// What to do when the run id already exists on the server (W&B's resume semantics). A run this
// run directory created itself (its upload state says so) is always continued.
enum class ResumeMode {
  Never,  // refuse with an Error: another run already uses this id (the default)
  Allow,  // append to the existing run (its history continues after the server's lines)
  Must,   // like Allow, but refuse when the run does not exist
};

struct UploadOptions {
  // Empty values come from the environment: WANDB_BASE_URL (default https://api.wandb.ai),
  // WANDB_API_KEY (else ~/.netrc's entry for the base URL's host), WANDB_ENTITY, WANDB_PROJECT.
  std::string base_url;
  std::string api_key;  // never written to disk or logs, never part of an error message
  std::string entity;
  std::string project;
  std::string run_id;  // empty: metadata file's "id", else the run directory's name

  double request_timeout_seconds = 60;   // whole API request (GraphQL, file_stream)
  double connect_timeout_seconds = 20;
  double transfer_stall_seconds = 60;    // fail a transfer when no byte moved this long
  // TLS peers and host names are always verified, against libcurl's CA store or this PEM bundle
  // (empty: $CURL_CA_BUNDLE when set), e.g. for a W&B server behind a private CA.
  std::string ca_bundle;
  RetryOptions retry;

  double poll_interval_seconds = 1.0;    // how often the live uploader looks for new data
  int64_t max_request_bytes = 10 << 20;  // one file_stream request (W&B accepts 10 MiB)
  int64_t max_line_bytes = (10 << 20) - (100 << 10);  // longer history lines are dropped, reported
  bool upload_files = true;              // media/**, checkpoints/**, graph.json, wandb-metadata.json
  int max_parallel_uploads = 4;          // file PUTs in flight at once
  ResumeMode resume = ResumeMode::Never;
  // Live mode (start()) runs in the training process, so it can describe it: it writes
  // wandb-metadata.json (when absent) and samples system metrics into wandb-events.jsonl every
  // this many seconds (0: none). Offline sync uploads what the directory holds.
  bool write_metadata = true;
  double system_metrics_interval_seconds = 15;

  // Software versions listed in wandb-metadata.json's "trainscope" entry next to its own version
  // (e.g. {"libtorch", "2.5.1"}); the Callback fills libtorch's and the CUDA runtime's.
  std::map<std::string, std::string> software;

  // Called on the uploading thread after each acknowledged request; must not throw.
  std::function<void(const UploadProgress&)> on_progress;
};


class Uploader {
 public:
  // Resolves credentials and options (throws Error when the key, entity-less project or run
  // directory is missing). Nothing is sent before start() or sync().
  Uploader(std::string run_dir, UploadOptions options);
  ~Uploader();  // stops the thread without marking the run complete
  Uploader(const Uploader&) = delete;
  Uploader& operator=(const Uploader&) = delete;

  // Starts the background thread that creates/resumes the run and tails the directory.
  void start();
  // Uploads everything written so far, sends complete/exitcode and joins the thread. Throws Error
  // when the upload failed (the run stays complete on disk; run `trainscope sync` later).
  UploadProgress stop(int exit_code = 0);
  // stop() that waits at most `timeout_seconds` for the final pass: past it the upload is
  // cancelled (transfers and retry waits are interrupted; it returns within about a second more)
  // and an Error says so. The run stays incomplete on the server; `trainscope sync` resumes it.
  UploadProgress stop(int exit_code, double timeout_seconds);
  // Throws the kept Error, if the background upload failed, else returns the progress so far.
  UploadProgress check() const;
  UploadProgress progress() const;
  // entity/project/run as resolved so far (the entity may be empty until the server names it).
  std::string run_path() const;

  // Offline: uploads the directory as it is now and marks the run complete, on this thread.
  UploadProgress sync(int exit_code = 0);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// `wandb sync` for a finished or crashed run directory.
UploadProgress sync_run(const std::string& run_dir, UploadOptions options, int exit_code = 0);

}  // namespace trainscope
